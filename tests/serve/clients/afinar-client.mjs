// What a Node service of ours would write to call `afinar serve`: the official openai package
// (pinned in package.json), the server's CA trusted through NODE_EXTRA_CA_CERTS, an API key.
// Asks once plainly and once streamed, then with a wrong key, and prints JSON for the test.
//
//   NODE_EXTRA_CA_CERTS=ca.pem node afinar-client.mjs BASE_URL API_KEY MODEL PROMPT
import OpenAI from "openai";

const [base, key, model, prompt] = process.argv.slice(2);
const ask = { model, max_tokens: 8, temperature: 0, messages: [{ role: "user", content: prompt }] };
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });

const plain = await client.chat.completions.create(ask);
let streamed = "";
for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
}
let refused = null;
try {
  await new OpenAI({ baseURL: `${base}/v1`, apiKey: "afk_not-a-key", maxRetries: 0 }).chat.completions.create(ask);
} catch (err) {
  refused = { status: err.status, code: err.code };
}
console.log(JSON.stringify({ plain, streamed, refused }));
