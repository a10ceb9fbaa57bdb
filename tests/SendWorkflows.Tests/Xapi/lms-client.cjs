// A learning platform reporting to SendWorkflows with the @xapi/xapi client, as an LMS would:
// the xAPI endpoint and the API key over HTTP Basic, one statement, then a batch.
// Usage: node lms-client.cjs <endpoint> <api key> <public base url> <school URN> <externalId> <enrolment id> <session id>
// Prints {"single": [...ids], "batch": [...ids], "voided": [...ids]} or, on a refusal, {"status": …, "problem": …}.
const XAPI = require("@xapi/xapi");

const [endpoint, key, base, school, externalId, enrolmentId, sessionId] = process.argv.slice(2);
const xapi = new XAPI({ endpoint, auth: XAPI.toBasicAuth("learning-platform", key) });
const learner = { objectType: "Agent", name: "A learner", account: { homePage: `${base}/schools/${school}`, name: externalId } };
const moduleActivity = (id) => ({
  objectType: "Activity",
  id: `${base}/programmes/send-inclusion-core/modules/${id}`,
  definition: { name: { "en-GB": id }, type: "http://adlnet.gov/expapi/activities/module" },
});

async function main() {
  const single = await xapi.sendStatement({
    statement: { actor: learner, verb: XAPI.Verbs.COMPLETED, object: moduleActivity("identification"), result: { completion: true, duration: "PT42M" } },
  });
  const batch = await xapi.sendStatements({
    statements: [
      { actor: learner, verb: XAPI.Verbs.PASSED, object: moduleActivity("adaptive-teaching"), result: { success: true, score: { scaled: 0.9 } } },
      { actor: learner, verb: XAPI.Verbs.PROGRESSED, object: moduleActivity("visual-impairment"), result: { extensions: { "https://w3id.org/xapi/cmi5/result/extensions/progress": 50 } } },
      {
        actor: learner,
        verb: { id: "http://adlnet.gov/expapi/verbs/attended", display: { "en-GB": "attended" } },
        object: { objectType: "Activity", id: `${base}/sessions/${sessionId}` },
        context: { registration: enrolmentId },
      },
    ],
  });
  const voided = await xapi.voidStatement({ actor: learner, statementId: batch.data[1] });
  const refused = await xapi
    .sendStatement({ statement: { actor: learner, verb: XAPI.Verbs.COMPLETED, object: moduleActivity("astrophysics") } })
    .then(() => null, (e) => ({ status: e.response?.status, problem: e.response?.data }));
  console.log(JSON.stringify({ single: single.data, batch: batch.data, voided: voided.data, refused }));
}

main().catch((e) => {
  console.error(JSON.stringify({ status: e.response?.status, problem: e.response?.data, message: String(e) }));
  process.exit(1);
});
