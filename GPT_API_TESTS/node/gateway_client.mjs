// The pieces every SDK program here shares: the gateway's address and client key from the
// environment (GATEWAY_URL, GATEWAY_KEY, set by tests/test_phase1_node_sdks.py), a fetch that
// remembers each answer's `x-request-id` (the SDKs' stream helpers do not expose headers, and
// the test finds the request's row in the log by that id), and one JSON line on stdout.

export const BASE_URL = required("GATEWAY_URL");
export const API_KEY = required("GATEWAY_KEY");
export const SDK_OPTIONS = { apiKey: API_KEY, maxRetries: 0, timeout: 20_000, fetch: recordingFetch };

// The gateway's request ids, one per HTTP exchange, in order.
const requestIds = [];

async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  requestIds.push(response.headers.get("x-request-id"));
  return response;
}

export function lastRequestId() {
  return requestIds[requestIds.length - 1] ?? null;
}

// The weather tool of the Python tests (tests/dialect_support.py), in each SDK's shape.
export const WEATHER_SCHEMA = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
};
export const WEATHER = { name: "get_weather", description: "Weather in a city" };

// Run the program; print its result as one JSON line, or the error and exit 1 so the test
// shows what the SDK refused.
export function run(program) {
  program().then(
    (result) => process.stdout.write(JSON.stringify(result) + "\n"),
    (error) => {
      console.error(error?.stack ?? String(error));
      if (error?.status) console.error(`HTTP ${error.status}: ${JSON.stringify(error.error ?? null)}`);
      process.exit(1);
    },
  );
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the pytest file sets it)`);
  return value;
}
