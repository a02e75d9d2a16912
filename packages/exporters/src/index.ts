// Exporters turn a gated model into other deployment forms (e.g. a fully standard-op ONNX graph for runtimes
// without function support). None ships yet; the package exists so the layering (cli -> exporters -> core)
// is in place from the start.
export {};
