// `@anthropic-ai/sdk` through the gateway: turn 1 `messages.stream` with the weather tool (the
// model calls it; the SDK's MessageStream accumulates the input_json deltas), turn 2 a non-stream
// `messages.create` with the tool results, turn 3 a plain `messages.stream` of text.
// Usage: node anthropic_messages_tools.mjs QUESTION RESULT... (GATEWAY_URL, GATEWAY_KEY set)
import Anthropic from "@anthropic-ai/sdk";

import { BASE_URL, SDK_OPTIONS, WEATHER, WEATHER_SCHEMA, lastRequestId, run } from "./gateway_client.mjs";

const [question, ...results] = process.argv.slice(2);
const client = new Anthropic({ ...SDK_OPTIONS, baseURL: BASE_URL });
const tools = [{ ...WEATHER, input_schema: WEATHER_SCHEMA }];

function summary(message, extra = {}) {
  return {
    request_id: lastRequestId(),
    type: message.type,
    role: message.role,
    text: message.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
    tool_uses: message.content
      .filter((b) => b.type === "tool_use")
      .map((b) => ({ id: b.id, name: b.name, input: b.input })),
    stop_reason: message.stop_reason,
    usage: { input_tokens: message.usage.input_tokens, output_tokens: message.usage.output_tokens },
    ...extra,
  };
}

async function streamTurn(params) {
  const events = [];
  let text = "";
  const stream = client.messages.stream(params);
  stream.on("streamEvent", (event) => events.push(event.type));
  stream.on("text", (delta) => {
    text += delta;
  });
  const message = await stream.finalMessage();
  return { message, summary: summary(message, { streamed_text: text, events }) };
}

run(async () => {
  const user = { role: "user", content: question };
  const first = await streamTurn({ model: "m", max_tokens: 256, tools, messages: [user] });
  const toolResults = first.message.content
    .filter((b) => b.type === "tool_use")
    .map((b, i) => ({ type: "tool_result", tool_use_id: b.id, content: results[i] }));
  const second = await client.messages.create({
    model: "m",
    max_tokens: 256,
    tools,
    messages: [user, { role: "assistant", content: first.message.content }, { role: "user", content: toolResults }],
  });
  const secondSummary = summary(second);
  const again = { role: "user", content: `${question} again` };
  const third = await streamTurn({ model: "m", max_tokens: 256, messages: [again] });
  return { turns: [first.summary, secondSummary, third.summary] };
});
