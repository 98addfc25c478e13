// run_wasm.js: answers requests with the WebAssembly module, as the page's worker does.
//   node run_wasm.js SITE_DIR REQUESTS.json  ->  a JSON array of the module's answers on stdout
// REQUESTS.json: an array of {command, args}.
'use strict';
const fs = require('fs');
const path = require('path');

const [site, requestsFile] = process.argv.slice(2);
const createGemmasim = require(path.resolve(site, 'gemmasim.js'));
// the wasm bytes are handed over: this Emscripten's loader cannot fetch a file path under node
createGemmasim({ wasmBinary: fs.readFileSync(path.join(site, 'gemmasim.wasm')) }).then((m) => {
  const call = m.cwrap('gemmasim_call', 'string', ['string']);
  const requests = JSON.parse(fs.readFileSync(requestsFile, 'utf8'));
  const answers = requests.map((r) => JSON.parse(call(JSON.stringify(r))));
  process.stdout.write(JSON.stringify(answers));
});
