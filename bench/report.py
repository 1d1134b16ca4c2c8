#!/usr/bin/env python3
"""Turns the raw results of scripts/bench.sh into the Markdown table of bench/results/.

Usage: report.py RESULTS.jsonl COMMANDS.txt > report.md
       report.py --translation RESULTS.jsonl   (one JSON line: the translated-stream figures)
Each results line is one object: {"figure": ..., "target": ..., "cpu_ticks": N, "load": {bench-load JSON}}
for a load run, or a record written by the script (machine, memory samples, log counts).
"""

import json
import sys

TARGETS = ("direct", "nginx", "gateway")

# The translated-stream step: (key, figure, client → target, what the worker does). The first is
# the reference every ratio is taken against. Runs the gateway could not be configured for (a
# binary without the kinds of issue 19) or refused are left out.
DIALECT_RUNS = (
    ("passthrough_chat", "dialect-chat-bench", "chat → openai", "pass-through (reference)"),
    ("passthrough_messages", "dialect-messages-bench-anthropic", "Messages → anthropic", "pass-through"),
    ("passthrough_gemini", "dialect-gemini-bench-gemini", "Gemini → gemini", "pass-through"),
    ("passthrough_cohere", "dialect-cohere-bench-cohere", "Cohere → cohere", "pass-through"),
    ("anthropic_to_chat", "dialect-chat-bench-anthropic", "chat → anthropic", "Anthropic events → chat chunks"),
    ("chat_to_anthropic", "dialect-messages-bench", "Messages → openai", "chat chunks → Anthropic events"),
    ("gemini_to_chat", "dialect-chat-bench-gemini", "chat → gemini", "Gemini events → chat chunks"),
    ("cohere_to_chat", "dialect-chat-bench-cohere", "chat → cohere", "Cohere events → chat chunks"),
    ("bedrock_to_chat", "dialect-chat-bench-bedrock", "chat → bedrock",
     "event-stream frames → chat chunks; request SigV4-signed"),
)


def main(results_path, commands_path):
    with open(results_path) as results_file:
        records = [json.loads(line) for line in results_file if line.strip()]
    with open(commands_path) as commands_file:
        commands = [line.rstrip("\n") for line in commands_file]
    report = Report(records)
    print("\n".join(report.markdown(commands)))


class Report:
    def __init__(self, records):
        self.meta = next((r for r in records if r.get("figure") == "meta"), {})
        self.records = records
        self.runs = {(r["figure"], r["target"]): r for r in records if "target" in r}
        self.tick_us = 1e6 / float(self.meta.get("clk_tck", 100))

    # === lookups ===

    def load(self, figure, target):
        run = self.runs.get((figure, target)) or {}
        return run.get("load") or {}

    def value(self, figure, target, field):
        return self.load(figure, target).get(field)

    def cpu_per_answer(self, figure, target, ticks="cpu_ticks"):
        run = self.runs.get((figure, target)) or {}
        answered = (run.get("load") or {}).get("answered")
        if not answered or ticks not in run:
            return None
        return run[ticks] * self.tick_us / answered

    def translation(self):
        """The translated-stream step: per client → target pair, CPU per stream (process and
        worker threads) over its rounds, and its ratio to the pass-through chat stream's, also
        round by round; `None` where no run is there."""
        figures = {}
        for key, figure, _, _ in DIALECT_RUNS:
            # Round N is `figure-N`; results written before rounds have the one `figure`.
            rounds = [self.runs[(f, "gateway")] for f in [figure] + [f"{figure}-{r}" for r in range(1, 10)]
                      if (f, "gateway") in self.runs]
            loads = [run.get("load") or {} for run in rounds]
            # A run the gateway answered with no stream (refused) has no CPU per stream.
            if not loads or not all(load.get("ok") for load in loads):
                continue
            figures[key] = {
                "rounds": len(rounds),
                "streams_per_s": rounded(mean([load.get("streams_per_s") for load in loads])),
                # The mean of the rounds, each weighing the same for every pair: summed over the
                # rounds instead, a round the machine slowed would weigh less for the pairs it
                # slowed, and a ratio could fall outside its rounds' ratios.
                "cpu_us": rounded(mean([self.per_answer(run, "cpu_ticks") for run in rounds])),
                "worker_cpu_us": rounded(mean([self.per_answer(run, "worker_ticks") for run in rounds])),
                "round_cpu_us": [rounded(self.per_answer(run, "cpu_ticks")) for run in rounds],
                "lost_events": sum(load.get("lost_events", 0) for load in loads),
                "incomplete": sum(load.get("incomplete", 0) for load in loads),
            }
        reference = figures.get(DIALECT_RUNS[0][0]) or {}
        for values in figures.values():
            for field in ("cpu_us", "worker_cpu_us"):
                values[field.replace("cpu_us", "ratio")] = quotient(values[field], reference.get(field))
            values["round_ratios"] = [quotient(value, base) for value, base
                                      in zip(values["round_cpu_us"], reference.get("round_cpu_us", []))]
        return figures or None

    def per_answer(self, run, ticks):
        answered = (run.get("load") or {}).get("answered")
        if not answered or ticks not in run:
            return None
        return run[ticks] * self.tick_us / answered

    def kib(self, figure, target, field="kb"):
        run = self.runs.get((figure, target))
        return int(run[field]) if run and run.get(field) not in (None, "") else None

    # === table ===

    def markdown(self, commands):
        meta = self.meta
        lines = [
            f"# GPT_API benchmark ({meta.get('mode', '?')}), {meta.get('date', '?')}",
            "",
            f"Machine: {meta.get('nproc')} cores, {meta.get('cpu')}, {meta.get('kernel')}. "
            f"{meta.get('rustc')}; {meta.get('nginx')}; commit {meta.get('commit')}. "
            f"Mock driver {meta.get('mock_driver') or '?'}, gateway driver {meta.get('gateway_driver') or '-'}; "
            f"{meta.get('workers')} workers for nginx and the gateway; everything on 127.0.0.1, sharing the cores. "
            f"Runs of {meta.get('seconds')} s after {meta.get('warmup')} s of warm-up.",
            "",
            "Columns: the mock reached directly, through nginx (keep-alive pool, buffering off), "
            "through GPT_API (SQLite log on, store_content on). Ratio = GPT_API / nginx. "
            "Added = through the proxy minus direct. CPU = the proxy's utime+stime (the mock's when direct) "
            "divided by the requests answered.",
            "",
            "| figure | direct | nginx | GPT_API | ratio |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        lines += [row_text(row) for row in self.rows()]
        lines += self.translation_table()
        errors = self.error_lines()
        if errors:
            lines += ["", "Errors seen:", ""] + [f"- {line}" for line in errors]
        lines += ["", "Commands (bench-load; the script is `scripts/bench.sh`):", "", "```"] + commands + ["```"]
        return lines

    def translation_table(self):
        figures = self.translation()
        if figures is None:
            return []
        rounds = max(values["rounds"] for values in figures.values())
        lines = [
            "",
            "Translated streams through GPT_API, c=64, 20 deltas 0 ms apart, one run after the other "
            f"({rounds} round{'s' if rounds > 1 else ''} of {fmt(float(self.meta.get('seconds') or 0) / max(rounds, 1), digits=1)} s "
            "each, every pair once a round): a client of one dialect on a target of another kind has every "
            "event decoded and encoded again on the worker; a client on a target of its own kind gets the "
            "upstream's bytes. CPU per stream as above, the mean of the rounds; workers = the gateway's worker threads "
            "alone (its logging threads left out). Ratio = against the pass-through chat stream of the same "
            "run; per round in parentheses (how much the machine moved).",
            "",
            "| client → target | on the worker | streams/s | CPU per stream (µs) | workers (µs) "
            "| ratio (per round) | ratio, workers | events lost / incomplete |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, _, route, work in DIALECT_RUNS:
            values = figures.get(key)
            if values is None:
                continue
            lines.append(row_text((
                route, work, fmt(values["streams_per_s"]), fmt(values["cpu_us"], digits=1),
                fmt(values["worker_cpu_us"], digits=1), ratio_with_rounds(values), times(values["worker_ratio"]),
                f"{values['lost_events']} / {values['incomplete']}",
            )))
        return lines

    def rows(self):
        sweep = sorted(int(f.split("-c")[1]) for (f, t) in self.runs if f.startswith("plain-c") and t == "direct")
        yield from self.latency_rows("plain-c1", "latency", "c=1", "")
        for concurrency in sweep:
            if concurrency == 1:
                continue
            yield self.absolute(f"throughput, c={concurrency} (req/s)", f"plain-c{concurrency}", "rps")
        yield self.absolute("latency p50 / p99, c=64 (µs)", "plain-c64", "p50_us", "p99_us")
        yield self.cpu_row("CPU per request, c=64 (µs)", "plain-c64")
        yield self.split_row("CPU per request, c=64, by thread (µs)", "plain-c64")
        yield from self.limit_rows()
        yield from self.latency_rows("stream-c1", "TTFT", "c=1", "ttft_")
        yield from self.latency_rows("stream-c1", "inter-event gap", "c=1", "gap_")
        yield self.absolute("streams/s, c=64 (20 chunks, 0 ms)", "stream-c64", "streams_per_s")
        yield self.absolute("TTFT p50 / p99, c=64 (µs)", "stream-c64", "ttft_p50_us", "ttft_p99_us")
        yield self.cpu_row("CPU per stream, c=64 (µs)", "stream-c64")
        yield self.split_row("CPU per stream, c=64, by thread (µs)", "stream-c64")
        yield from self.wrk_rows()
        yield from self.mixed_rows()
        yield self.per_target("events lost / streams incomplete (all stream runs)", self.stream_losses)
        yield self.per_target("slow streams held (64 deltas × 20 ms, none lost, no gap > 200 ms)", self.slow_held)
        yield self.per_target("slow streams: gap p50 / p99 / max at the largest step held (µs)", self.slow_gaps)
        yield self.memory_row("RSS idle (MiB)", lambda t: self.kib("rss_idle", t))
        yield self.memory_row("RSS under load, c=32, max (MiB)", lambda t: self.max_sample("rss_load", t))
        yield self.memory_row("RSS after load (MiB)", lambda t: self.kib("rss_after", t))
        if ("rss_soak", "gateway") in self.runs:
            yield self.per_target("RSS over the soak, first → last (max) (MiB)", self.soak)
        yield from self.idle_rows()
        yield from self.log_rows()
        yield from self.queue_rows()
        yield from self.postgres_rows()
        yield from self.crash_rows()
        yield self.per_target("errors / non-200 (all runs)", self.error_counts)

    def split_row(self, name, figure):
        """The gateway's CPU per answer by thread role: workers, logging thread, database threads
        (`gpt-api-log-db` and sqlx's), and the rest of the process (main, fleet, ended threads)."""
        run = self.runs.get((figure, "gateway")) or {}
        if "log_ticks" not in run:
            return (name, "—", "—", "—", "")
        parts = {role: self.cpu_per_answer(figure, "gateway", f"{role}_ticks") for role in ("worker", "log", "db")}
        total = self.cpu_per_answer(figure, "gateway")
        if total is None or None in parts.values():
            return (name, "—", "—", "—", "")
        # Threads and process are read one after the other: "other" may come out a tick below 0.
        other = max(total - sum(parts.values()), 0.0)
        text = (f"{total:.1f} = workers {parts['worker']:.1f} + log {parts['log']:.1f} "
                f"+ db {parts['db']:.1f} + other {other:.1f}")
        return (name, "—", "—", text, "")

    def wrk_rows(self):
        """The c=64 steps again with wrk (-t1 -c64, the same request) as the load generator."""
        if not any(f.startswith("wrk-") for f, _ in self.runs):
            return
        yield self.absolute("wrk: throughput, c=64 (req/s)", "wrk-plain", "rps")
        yield self.absolute("wrk: latency p50 / p99, c=64 (µs)", "wrk-plain", "p50_us", "p99_us")
        yield self.cpu_row("wrk: CPU per request, c=64 (µs)", "wrk-plain")
        yield self.split_row("wrk: CPU per request, c=64, by thread (µs)", "wrk-plain")
        yield self.absolute("wrk: streams/s, c=64 (20 chunks, 0 ms)", "wrk-stream", "streams_per_s")
        yield self.cpu_row("wrk: CPU per stream, c=64 (µs)", "wrk-stream")
        yield self.split_row("wrk: CPU per stream, c=64, by thread (µs)", "wrk-stream")

    def mixed_rows(self):
        """c=64 with half of the connections streaming, nginx against the gateway."""
        if not any(f == "mixed" for f, _ in self.runs):
            return
        yield self.mixed_row("mixed, c=32 + 32 streams: requests/s + streams/s",
                             lambda load: f"{fmt(load['plain'].get('rps'))} + {fmt(load['stream'].get('streams_per_s'))}",
                             lambda load: load["rps"])
        yield self.cpu_row("mixed: CPU per request or stream (µs)", "mixed")
        yield self.split_row("mixed: CPU per request or stream, by thread (µs)", "mixed")
        yield self.mixed_row("mixed: RSS, max (MiB)", lambda load: fmt(mib(load.get("rss_max_kb")), digits=1),
                             lambda load: load.get("rss_max_kb"))
        yield self.mixed_row("mixed: log queue depth, max (sampled every 0.2 s); rows spilled (writer behind)",
                             lambda load: "—" if load.get("queue_max") is None
                             else f"{fmt(load['queue_max'])}; {fmt(load.get('spilled'))}", None)

    def mixed_row(self, name, text, value):
        loads = {t: self.load("mixed", t) for t in ("nginx", "gateway")}
        cells = {t: text(load) if load.get("plain") is not None else "—" for t, load in loads.items()}
        if value is None or "—" in cells.values():
            return (name, "—", cells["nginx"], cells["gateway"], "")
        return (name, "—", cells["nginx"], cells["gateway"], ratio(value(loads["gateway"]), value(loads["nginx"])))

    def idle_rows(self):
        """Keep-alive connections that made one request each, then held open and idle."""
        runs = {t: self.runs.get(("idle", t)) for t in ("nginx", "gateway")}
        if not any(runs.values()):
            return
        count = next(int(run["connections"]) for run in runs.values() if run)

        def added(run):
            if not run or run.get("kb_held") is None:
                return None
            return int(run["kb_held"]) - int(run["kb_before"])

        def cell(run):
            kib = added(run)
            if kib is None:
                return "—"
            held = (run.get("load") or {}).get("held")
            return (f"{mib(int(run['kb_before'])):.1f} → {mib(int(run['kb_held'])):.1f} "
                    f"(+{mib(kib):.1f}; {held} held)")

        yield (f"RSS before → with {count:,} idle keep-alive connections (added) (MiB)", "—",
               cell(runs["nginx"]), cell(runs["gateway"]), ratio(added(runs["gateway"]), added(runs["nginx"])))
        per_connection = [None if added(run) is None else added(run) / count for run in runs.values()]
        yield ("RSS added per idle connection (KiB)", "—", *[fmt(v, digits=1) for v in per_connection],
               "")

    def queue_rows(self):
        sampled = next((r for r in self.records if r.get("figure") == "queue_run"), None)
        if sampled is None:
            return
        figures = json.loads(sampled.get("figures") or "{}")
        peak = figures.get("peak") or {}
        step = f" (queue's, during: {figures['queue_step']})" if figures.get("queue_step") else ""
        yield ("log queue depth / rows only in memory, max over the run (sampled every 0.2 s)", "—", "—",
               f"{fmt(peak.get('queue'))} / {fmt(peak.get('buffered'))}{step}", "")

    def postgres_rows(self):
        """A second gateway logging to a local PostgreSQL, c=64 non-streaming, waited on until
        every answered request has its row."""
        run = next((r for r in self.records if r.get("figure") == "postgres"), None)
        if run is None:
            return
        rows, seconds = int(run["rows"]), int(run["elapsed_ms"]) / 1000
        answered = (run.get("load") or {}).get("answered")
        if rows <= 0 or seconds <= 0:
            yield ("PostgreSQL log: no rows written", "—", "—", f"{rows} / {answered}", "")
            return
        per_row = {k: int(run[k]) * self.tick_us / rows for k in ("log_ticks", "db_ticks", "postgres_ticks")}
        yield ("PostgreSQL log, c=64: rows / answered; rows/s (load start → last row)", "—", "—",
               f"{rows:,} / {answered:,}; {fmt(rows / seconds)} ({seconds:.1f} s)", "")
        yield ("PostgreSQL log: CPU per row, log + db threads (PostgreSQL's own) (µs)", "—", "—",
               f"{per_row['log_ticks'] + per_row['db_ticks']:.1f} = {per_row['log_ticks']:.1f} + "
               f"{per_row['db_ticks']:.1f} ({per_row['postgres_ticks']:.1f})", "")

    def limit_rows(self):
        """CPU per request through GPT_API with an unlimited key against a key with every limit
        (rpm, tpm, max_concurrent, budget; never reached), alternated twice in the same run."""
        pairs = [(self.cpu_per_answer(f"key-unlimited-{r}", "gateway"),
                  self.cpu_per_answer(f"key-limited-{r}", "gateway")) for r in (1, 2)]
        if all(u is None and l is None for u, l in pairs):
            return
        text = "; ".join(f"{fmt(u, digits=1)} / {fmt(l, digits=1)}" for u, l in pairs)
        yield ("CPU per request, c=64, unlimited / limited key, twice (µs)", "—", "—", text, "")
        fleet = [self.cpu_per_answer(f"key-fleet-{r}", "gateway") for r in (1, 2)]
        if any(v is not None for v in fleet):
            text = "; ".join(fmt(v, digits=1) for v in fleet)
            yield ("CPU per request, c=64, limited key, fleet mode (Redis), twice (µs)", "—", "—", text, "")

    def latency_rows(self, figure, name, where, prefix):
        for quantile in ("p50", "p99"):
            field = f"{prefix}{quantile}_us"
            yield self.absolute(f"{name} {quantile}, {where} (µs)", figure, field)
        for quantile in ("p50", "p99"):
            field = f"{prefix}{quantile}_us"
            base = self.value(figure, "direct", field)
            added = {t: sub(self.value(figure, t, field), base) for t in ("nginx", "gateway")}
            yield (f"added {name} {quantile}, {where} (µs)", "—", fmt(added["nginx"], signed=True),
                   fmt(added["gateway"], signed=True), ratio(added["gateway"], added["nginx"]))

    def absolute(self, name, figure, field, second=None):
        cells = []
        for target in TARGETS:
            first_value = self.value(figure, target, field)
            text = fmt(first_value)
            if second:
                text += " / " + fmt(self.value(figure, target, second))
            cells.append(text)
        key = second or field
        return (name, *cells, ratio(self.value(figure, "gateway", key), self.value(figure, "nginx", key)))

    def cpu_row(self, name, figure):
        values = [self.cpu_per_answer(figure, t) for t in TARGETS]
        direct = fmt(values[0], digits=1) + (" (mock)" if values[0] is not None else "")
        return (name, direct, fmt(values[1], digits=1), fmt(values[2], digits=1), ratio(values[2], values[1]))

    def per_target(self, name, cell):
        values = [cell(t) for t in TARGETS]
        return (name, *[v if v is not None else "—" for v in values], "")

    def memory_row(self, name, kib):
        values = [None, kib("nginx"), kib("gateway")]
        cells = ["—"] + [fmt(mib(v), digits=1) for v in values[1:]]
        return (name, *cells, ratio(values[2], values[1]))

    # === cells ===

    def stream_losses(self, target):
        runs = [self.load(f, t) for (f, t) in self.runs if t == target and f.startswith(("stream-", "slow-", "dialect-"))]
        runs = [run for run in runs if run]
        if not runs:
            return None
        return f"{sum(r.get('lost_events', 0) for r in runs)} / {sum(r.get('incomplete', 0) for r in runs)}"

    def slow_steps(self, target):
        return sorted(int(f.split("-")[1]) for (f, t) in self.runs if t == target and f.startswith("slow-"))

    def held_steps(self, target):
        return [s for s in self.slow_steps(target) if self.value(f"slow-{s}", target, "clean_streams") == s]

    def slow_held(self, target):
        steps = self.slow_steps(target)
        if not steps:
            return None
        held = self.held_steps(target)
        best = max(held) if held else 0
        failed = [s for s in steps if s not in held]
        return f"{best}" + (f" (failed at {failed[0]})" if failed else " (highest step tried)")

    def slow_gaps(self, target):
        steps = self.slow_steps(target)
        if not steps:
            return None
        held = self.held_steps(target)
        step = max(held) if held else steps[0]
        run = self.load(f"slow-{step}", target)
        return " / ".join(fmt(run.get(f)) for f in ("gap_p50_us", "gap_p99_us", "gap_max_us")) + f" @ {step}"

    def max_sample(self, figure, target):
        samples = (self.runs.get((figure, target)) or {}).get("samples_kb") or []
        return max(samples) if samples else None

    def soak(self, target):
        samples = (self.runs.get(("rss_soak", target)) or {}).get("samples_kb") or []
        if not samples:
            return None
        return f"{mib(samples[0]):.1f} → {mib(samples[-1]):.1f} ({mib(max(samples)):.1f})"

    def error_counts(self, target):
        runs = [r.get("load") or {} for (f, t), r in self.runs.items() if t == target]
        if not runs:
            return None
        return f"{sum(r.get('errors', 0) for r in runs)} / {sum(r.get('non_200', 0) for r in runs)}"

    def error_lines(self):
        lines = []
        for (figure, target), run in self.runs.items():
            load = run.get("load")
            if load is None and "cpu_ticks" in run:
                lines.append(f"{figure}/{target}: bench-load printed no result")
            elif load and load.get("first_error"):
                lines.append(f"{figure}/{target}: {load['first_error']}")
        return lines

    def log_rows(self):
        total = next((r for r in self.records if r.get("figure") == "log_total"), None)
        if total is None:
            return
        rows = int(total["rows"])
        access = int(total.get("access_lines") or 0)
        # The fleet-mode and PostgreSQL gateways are processes of their own with their own
        # databases: their requests are not this log's.
        answered = sum((r.get("load") or {}).get("answered", 0) for (f, t), r in self.runs.items()
                       if t == "gateway" and not f.startswith("key-fleet") and f != "postgres")
        spilled = int(total.get("spilled") or 0)
        finished = max(access, answered)
        yield ("log rows written / requests answered (access lines)", "—", "—",
               f"{rows} / {answered} ({access})", "")
        # `log_drained`'s count: rows still in the spill file at shutdown (spilled while the
        # writer was behind and not replayed yet), not every row that ever went there.
        yield ("log rows left in the spill file at shutdown (writer behind)", "—", "—",
               str(spilled), "")
        if "replayed" in total:
            # Rows read back from the spill file and inserted while the gateway ran: each cost
            # a JSON line written, read, parsed and inserted once more (`log_spill_replayed`).
            yield ("log rows replayed from the spill file during the runs", "—", "—",
                   f"{int(total['replayed'] or 0)} of {rows}", "")
        lost = str(max(finished - rows - spilled, 0)) if rows >= 0 else "no database"
        yield ("log rows lost (neither written nor spilled)", "—", "—", lost, "")
        rate = next((r for r in self.records if r.get("figure") == "log_rate"), None)
        if rate:
            elapsed = float(rate["run_seconds"] or 0) + float(rate["warmup"]) + int(rate["drain_ms"]) / 1000
            rows_per_s = int(rate["rows"]) / elapsed if elapsed > 0 else None
            yield ("log rows/s sustained during c=64 (rows over run + drain time)", "—", "—",
                   f"{fmt(rows_per_s)} (drain {rate['drain_ms']} ms)", "")

    def crash_rows(self):
        crash = next((r for r in self.records if r.get("figure") == "crash"), None)
        if crash is None:
            return
        answered, rows = int(crash["answered"]), int(crash["rows"])
        seconds, interval_ms = float(crash["seconds"]), int(crash["flush_interval_ms"])
        figures = json.loads(crash.get("figures") or "{}")
        peak = figures.get("peak") or {}
        # The stated bound: what arrives in one flush interval, plus what waits in the channel.
        bound = answered / seconds * interval_ms / 1000
        where = f"kill -9 after {seconds:g} s of c=64 (half streams)"
        yield (f"{where}: answered / rows at the kill / rows after restart", "—", "—",
               f"{answered:,} / {int(crash['rows_at_kill']):,} / {rows:,}", "")
        yield (f"{where}: spilled at the kill (replayed)", "—", "—",
               f"{int(crash['spilled']):,} ({crash.get('replayed') or 0})", "")
        yield (f"{where}: lost / bound ({interval_ms} ms of traffic + log queue, peak)", "—", "—",
               f"{max(answered - rows, 0):,} / {bound:,.0f} + {peak.get('queue', '—')}", "")
        yield (f"{where}: rows only in memory, peak (sampled every 0.2 s)", "—", "—",
               f"{peak.get('buffered', '—')}", "")


def row_text(row):
    return "| " + " | ".join(str(cell) for cell in row) + " |"


def sub(value, base):
    return None if value is None or base is None else value - base


def mib(kib):
    return None if kib is None else kib / 1024


def fmt(value, digits=0, signed=False):
    if value is None:
        return "—"
    sign = "+" if signed and value >= 0 else ""
    if digits == 0 and abs(value) >= 1000:
        return f"{sign}{value:,.0f}"
    return f"{sign}{value:.{digits}f}"


def mean(values):
    return None if not values or None in values else sum(values) / len(values)


def rounded(value):
    return None if value is None else round(value, 1)


def quotient(value, base):
    if value is None or base is None or base <= 0 or value < 0:
        return None
    return round(value / base, 3)


def times(value):
    return "" if value is None else f"{value:.2f}×"


def ratio_with_rounds(values):
    """`1.21× (1.18, 1.24)`: the ratio over all rounds, then round by round when there are several."""
    text = times(values["ratio"])
    rounds = values["round_ratios"]
    if len(rounds) > 1 and text:
        text += " (" + ", ".join("—" if r is None else f"{r:.2f}" for r in rounds) + ")"
    return text


def ratio(gateway, nginx):
    return times(quotient(gateway, nginx))


if __name__ == "__main__":
    if sys.argv[1] == "--translation":
        with open(sys.argv[2]) as results_file:
            report = Report([json.loads(line) for line in results_file if line.strip()])
        print(json.dumps({"figure": "translation", "figures": report.translation()}))
    else:
        main(sys.argv[1], sys.argv[2])
