//! Calendar arithmetic in UTC through integers (Howard Hinnant's algorithms) and the
//! timestamps clients may write in query strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::json::push_decimal;

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = i64::from((month + 9) % 12); // 0 = March
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a day counted from 1970-01-01 (the inverse of `days_from_civil`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// Appends `at` as UTC ISO-8601 with `fraction_digits` (1 to 9) digits of the second:
/// `2026-12-02T03:04:05.678Z` with 3. Through integers into a stack buffer: `write!` with
/// widths was most of the cost of a log line's time and a row's.
pub fn push_utc(out: &mut String, at: SystemTime, fraction_digits: u32) {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    let fraction_digits = fraction_digits.clamp(1, 9) as usize;
    let fraction = u64::from(since_epoch.subsec_nanos()) / 10_u64.pow(9 - fraction_digits as u32);
    push_decimal(out, year.max(0) as u64, 4);
    let mut rest = *b"-00-00T00:00:00.000000000Z";
    let fields = [
        (1..3, u64::from(month)),
        (4..6, u64::from(day)),
        (7..9, second_of_day / 3600),
        (10..12, second_of_day / 60 % 60),
        (13..15, second_of_day % 60),
        (16..16 + fraction_digits, fraction),
    ];
    for (slot, mut value) in fields {
        for digit in rest[slot].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    let end = 16 + fraction_digits;
    rest[end] = b'Z';
    out.push_str(std::str::from_utf8(&rest[..=end]).unwrap_or_default());
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// `2026-12-02`, `2026-12-02T03:04:05Z`, `2026-12-02T03:04:05.678+01:00` or Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(UNIX_EPOCH + Duration::from_secs(text.parse().ok()?));
    }
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(i64::from(year), month, day) * 86_400;
    let mut nanos = 0u32;
    if bytes.len() > 10 {
        if !matches!(bytes[10], b'T' | b't' | b' ') || bytes.len() < 19 {
            return None;
        }
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if bytes[13] != b':' || bytes[16] != b':' || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        seconds += i64::from(hour * 3600 + minute * 60 + second);
        let mut rest = &text[19..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let padded = format!("{:0<9}", &fraction[..digits.min(9)]);
            nanos = padded.parse().ok()?;
            rest = &fraction[digits..];
        }
        seconds -= match rest {
            "Z" | "z" => 0,
            offset if offset.len() == 6 && offset.as_bytes()[3] == b':' => {
                let sign = match offset.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let hours = i64::from(number(20..22)?);
                let minutes = i64::from(number(23..25)?);
                sign * (hours * 3600 + minutes * 60)
            }
            _ => return None,
        };
    }
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        for days in [0, 59, 11_016, 11_017, 19_782, 47_482] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn timestamps_in_the_forms_clients_write() {
        let at = |seconds: u64, nanos: u32| Some(UNIX_EPOCH + Duration::new(seconds, nanos));
        assert_eq!(parse_timestamp("1970-01-02"), at(86_400, 0));
        assert_eq!(
            parse_timestamp("2024-02-29T23:59:59Z"),
            at(1_709_251_199, 0)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T23:59:59.5Z"),
            at(1_709_251_199, 500_000_000)
        );
        assert_eq!(
            parse_timestamp("2024-03-01T01:59:59+02:00"),
            at(1_709_251_199, 0)
        );
        assert_eq!(parse_timestamp("1709251199"), at(1_709_251_199, 0));
        for bad in [
            "",
            "2024-13-01",
            "2024-02-29T25:00:00Z",
            "yesterday",
            "2024-02-29T1",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
