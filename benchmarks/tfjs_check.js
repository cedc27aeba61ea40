// Loads a TF.js GraphModel written by pyramid/worker/tfjs_export.py and runs it on one input,
// as a browser or Node app would, to compare with sensenet's prediction (tests/test_tfjs_export.py).
//
//   node benchmarks/tfjs_check.js EXPORT_DIR INPUT_JSON
//
// INPUT_JSON holds {"shape": [1, H, W, 3], "data": [pixel values, row-major]}; stdout gets
// {"shape": [...], "data": [...]} of the model's (first) output.
//
// Needs @tensorflow/tfjs-core, -converter and -backend-cpu (pure JavaScript, no native code:
// @tensorflow/tfjs-node downloads libtensorflow at install time, which this machine cannot).
// Install them anywhere and point NODE_PATH at that node_modules, e.g.
//   npm install --prefix /tmp/tfjs @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-converter@4.22.0 \
//       @tensorflow/tfjs-backend-cpu@4.22.0
//   NODE_PATH=/tmp/tfjs/node_modules node benchmarks/tfjs_check.js ...
"use strict";

const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs-core");
require("@tensorflow/tfjs-backend-cpu");
const converter = require("@tensorflow/tfjs-converter");

// The model.json and its weight shards read from disk, in the form tf.io handlers return.
function loadArtifacts(directory) {
  const modelJson = JSON.parse(fs.readFileSync(path.join(directory, "model.json"), "utf8"));
  const weightSpecs = [];
  const buffers = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) {
      buffers.push(fs.readFileSync(path.join(directory, shard)));
    }
  }
  const bytes = Buffer.concat(buffers);
  return {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    signature: modelJson.signature,
    userDefinedMetadata: modelJson.userDefinedMetadata,
    weightSpecs,
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  };
}

async function main() {
  const [directory, inputPath] = process.argv.slice(2);
  if (!directory || !inputPath) {
    console.error("usage: node tfjs_check.js EXPORT_DIR INPUT_JSON");
    process.exit(2);
  }
  await tf.setBackend("cpu");
  const artifacts = loadArtifacts(directory);
  const model = await converter.loadGraphModel({ load: async () => artifacts });
  const input = JSON.parse(fs.readFileSync(inputPath, "utf8"));
  const x = tf.tensor(input.data, input.shape, "float32");
  let y = await model.executeAsync(x);
  if (Array.isArray(y)) {
    y = y[0];
  }
  process.stdout.write(JSON.stringify({ shape: y.shape, data: Array.from(await y.data()) }) + "\n");
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
