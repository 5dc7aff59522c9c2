// Sends usage to UltraRepo with Lago's official JavaScript client, exactly as a publisher would
// send it to Lago, and prints what came back as one JSON line.
//   ULTRAREPO_URL=http://127.0.0.1:5080 ULTRAREPO_KEY=urk_... SUBSCRIPTION_ID=... node send-events.mjs
import { Client, getLagoError } from 'lago-javascript-client';

const base = process.env.ULTRAREPO_URL;
const subscription = process.env.SUBSCRIPTION_ID;
const client = Client(process.env.ULTRAREPO_KEY, { baseUrl: `${base}/api/v1` });
const now = Number(process.env.NOW_UNIX ?? Math.floor(Date.now() / 1000));
const event = (id, input, output) => ({
  transaction_id: id,
  external_subscription_id: subscription,
  code: 'mcp_tokens',
  timestamp: now - 60,
  properties: { tokens_input: input, tokens_output: output },
});

const result = {};
const one = await client.events.createEvent({ event: event('lago-js-1', 120, 80) });
result.single = one.data.event;
const retry = await client.events.createEvent({ event: event('lago-js-1', 120, 80) });
result.retry = retry.data.event;
const batch = await client.events.createBatchEvents({ events: [event('lago-js-2', 10, 20), event('lago-js-3', 30, 40)] });
result.batch = batch.data.events;
try {
  await client.events.createEvent({ event: { ...event('lago-js-bad', 1, 1), external_subscription_id: '00000000-0000-0000-0000-000000000000' } });
  result.unknownSubscription = 'accepted?!';
} catch (error) {
  const lagoError = await getLagoError(error);
  result.unknownSubscription = { status: error.status, body: lagoError };
}
// The shipper moves events to the database within milliseconds; retry the lookup briefly.
for (let attempt = 0; attempt < 50 && !result.found; attempt++) {
  try {
    result.found = (await client.events.findEvent('lago-js-1')).data.event;
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
console.log(JSON.stringify(result));
