// `openai` chat completions, streamed with tools, through the gateway: turn 1 offers the weather
// tool (the model calls it), turn 2 sends the tool results back and streams the text answer.
// The SDK's own stream helper merges the deltas, so a chunk it cannot parse fails the run.
// Usage: node openai_chat_stream_tools.mjs QUESTION RESULT... (GATEWAY_URL, GATEWAY_KEY set)
import OpenAI from "openai";

import { BASE_URL, SDK_OPTIONS, WEATHER, WEATHER_SCHEMA, lastRequestId, run } from "./gateway_client.mjs";

const [question, ...results] = process.argv.slice(2);
const client = new OpenAI({ ...SDK_OPTIONS, baseURL: `${BASE_URL}/v1` });
const tools = [{ type: "function", function: { ...WEATHER, parameters: WEATHER_SCHEMA } }];

async function streamTurn(messages) {
  const chunks = [];
  let text = "";
  const stream = client.chat.completions.stream({
    model: "m",
    messages,
    tools,
    stream_options: { include_usage: true },
  });
  stream.on("chunk", (chunk) => chunks.push(chunk));
  stream.on("content", (delta) => {
    text += delta;
  });
  const completion = await stream.finalChatCompletion();
  const choice = completion.choices[0];
  return {
    message: choice.message,
    summary: {
      request_id: lastRequestId(),
      text: choice.message.content,
      streamed_text: text,
      tool_calls: (choice.message.tool_calls ?? []).map((c) => ({
        id: c.id,
        type: c.type,
        name: c.function.name,
        arguments: c.function.arguments,
      })),
      finish_reason: choice.finish_reason,
      usage: completion.usage ?? null,
      chunk_objects: [...new Set(chunks.map((c) => c.object))],
      usage_chunks: chunks.filter((c) => c.usage).length,
      chunks_without_choices: chunks.filter((c) => c.choices.length === 0).length,
    },
  };
}

run(async () => {
  const user = { role: "user", content: question };
  const first = await streamTurn([user]);
  // The assistant turn goes back as the SDK gave it, as an application would send it.
  const toolMessages = first.message.tool_calls.map((call, i) => ({
    role: "tool",
    tool_call_id: call.id,
    content: results[i],
  }));
  const second = await streamTurn([user, first.message, ...toolMessages]);
  return { turns: [first.summary, second.summary] };
});
