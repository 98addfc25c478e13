// worker.js: runs the gemmasim module (gemmasim.js + gemmasim.wasm) off the page's thread, so
// a long answer (a server simulated for many users) never freezes the inputs.
// Message in:  {id, request}  (request: the JSON text gemmasim_call takes)
// Message out: {id, answer, ms} (answer: the JSON text it returns; ms: time spent in the call)
/* global importScripts, createGemmasim */
importScripts('gemmasim.js');

const ready = createGemmasim().then((m) => m.cwrap('gemmasim_call', 'string', ['string']));

self.onmessage = (e) => {
  ready.then((call) => {
    const t0 = performance.now();
    const answer = call(e.data.request);
    self.postMessage({ id: e.data.id, answer, ms: performance.now() - t0 });
  }).catch((err) => {
    self.postMessage({ id: e.data.id, answer: JSON.stringify({ ok: false, error: 'the module did not load: ' + err }), ms: 0 });
  });
};
