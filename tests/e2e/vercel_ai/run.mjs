// Drives the Vercel AI SDK (`ai` + `@ai-sdk/openai`, Responses API, store: true by default) against the
// gateway. Usage: node run.mjs <chat|stream-chat|tools>; LLMGATE_URL (…/v1) and LLMGATE_KEY in the environment.
// Prints one JSON object with what the SDK returned, for the Python test to check.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const openai = createOpenAI({ baseURL: process.env.LLMGATE_URL, apiKey: process.env.LLMGATE_KEY });
const model = openai("gpt-5.4");

function summary(result) {
  return {
    text: result.text,
    reasoning: result.reasoningText ?? null,
    steps: result.steps.map((step) => ({
      finishReason: step.finishReason,
      toolCalls: step.toolCalls.map((call) => ({ name: call.toolName, input: call.input })),
      toolResults: step.toolResults.map((r) => ({ name: r.toolName, output: r.output })),
    })),
    responseIds: result.steps.map((step) => step.response.id),
  };
}

async function chat() {
  // Two turns, the second with the first turn's response messages in its history.
  const messages = [{ role: "user", content: "Who are you?" }];
  const first = await generateText({ model, messages });
  messages.push(...first.response.messages, { role: "user", content: "What did I ask?" });
  const second = await generateText({ model, messages });
  return { first: summary(first), second: summary(second) };
}

async function streamChat() {
  // The same two turns streamed: the item ids come from the stream's events.
  const messages = [{ role: "user", content: "Who are you?" }];
  const first = streamText({ model, messages });
  const firstText = await first.text;
  messages.push(...(await first.response).messages, { role: "user", content: "What did I ask?" });
  const second = streamText({ model, messages });
  return { first: { text: firstText, reasoning: (await first.reasoningText) ?? null }, second: { text: await second.text } };
}

async function tools() {
  const getWeather = tool({
    description: "Weather for a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => ({ city, forecast: "sunny, 21 C" }),
  });
  const result = await generateText({
    model,
    tools: { get_weather: getWeather },
    stopWhen: stepCountIs(3),
    prompt: "Weather in Oslo?",
  });
  return summary(result);
}

const scenarios = { chat, "stream-chat": streamChat, tools };
const scenario = scenarios[process.argv[2]];
if (!scenario) {
  console.error(`unknown scenario ${process.argv[2]}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await scenario()));
} catch (error) {
  console.error(error?.stack ?? String(error));
  if (error?.responseBody) console.error("response body:", error.responseBody);
  process.exit(1);
}
