// `openai` Responses API through the gateway: `responses.create` (text, with instructions),
// `responses.create` with `stream: true` (text events), and `responses.stream` with the weather
// tool (function calls, collected by the SDK's ResponseStream into its final response).
// Usage: node openai_responses.mjs QUESTION (GATEWAY_URL, GATEWAY_KEY set)
import OpenAI from "openai";

import { BASE_URL, SDK_OPTIONS, WEATHER, WEATHER_SCHEMA, lastRequestId, run } from "./gateway_client.mjs";

const [question] = process.argv.slice(2);
const client = new OpenAI({ ...SDK_OPTIONS, baseURL: `${BASE_URL}/v1` });

function summary(response, extra = {}) {
  return {
    request_id: lastRequestId(),
    id: response.id,
    model: response.model,
    status: response.status,
    // From the output items: `output_text` is a convenience the SDK adds to whole responses only,
    // not to the one inside a `response.completed` event.
    text: response.output
      .filter((o) => o.type === "message")
      .flatMap((o) => o.content)
      .filter((part) => part.type === "output_text")
      .map((part) => part.text)
      .join(""),
    output_text: response.output_text ?? null,
    function_calls: response.output
      .filter((o) => o.type === "function_call")
      .map((o) => ({ call_id: o.call_id, name: o.name, arguments: o.arguments })),
    usage: {
      input_tokens: response.usage.input_tokens,
      output_tokens: response.usage.output_tokens,
      total_tokens: response.usage.total_tokens,
    },
    ...extra,
  };
}

run(async () => {
  const plain = await client.responses.create({ model: "m", input: question, instructions: "Be brief." });
  const plainSummary = summary(plain);

  const events = [];
  let text = "";
  let completed = null;
  const stream = await client.responses.create({ model: "m", input: `${question} streamed`, stream: true });
  for await (const event of stream) {
    events.push(event.type);
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed") completed = event.response;
  }
  if (!completed) throw new Error(`no response.completed event: ${events.join(", ")}`);
  const streamedSummary = summary(completed, { streamed_text: text, events });

  const tools = [{ type: "function", ...WEATHER, parameters: WEATHER_SCHEMA }];
  const toolStream = client.responses.stream({ model: "m", input: question, tools });
  const argumentsDone = [];
  toolStream.on("response.function_call_arguments.done", (event) => argumentsDone.push(event.arguments));
  const final = await toolStream.finalResponse();
  return { turns: [plainSummary, streamedSummary, summary(final, { arguments_done: argumentsDone })] };
});
