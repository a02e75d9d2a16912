import { CONV_PARAM_COUNT, ConvParam, ELT_PARAM_COUNT, EltParam, LSTM_PARAM_COUNT, LstmParam, loadNativeKernels, type NativeKernels } from '@pg/native-kernels';
import { describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason } from '../../../test/support/native.js';

// The addon's argument checks, called directly: which error (class, code, message) a malformed call throws, and
// that the first failing argument in the kernel's reading order decides it. The JS callers rely on the
// PG_NATIVE_ARGS code; the messages are what a user sees if a caller ever passes something wrong.

type Thrown = { name: string; code: unknown; message: string };

function thrownBy(f: () => void): Thrown | undefined {
  try {
    f();
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return { name: err.name, code: err.code, message: err.message };
  }
  return undefined;
}

const args = (name: string, message: string): Thrown => ({ name, code: 'PG_NATIVE_ARGS', message });

/** Element-wise parameters for a tensor of `size` floats, one scale, 4 bits, split 2 high bits, `channels`. */
function elt(size: number, channels = 1, wantSum = 0): Int32Array {
  const e = new Int32Array(ELT_PARAM_COUNT);
  e[EltParam.Size] = size;
  e[EltParam.Scales] = 1;
  e[EltParam.Bits] = 4;
  e[EltParam.HBits] = 2;
  e[EltParam.Channels] = channels;
  e[EltParam.WantSum] = wantSum;
  return e;
}

/** Pooling parameters: one 4x4 single-channel image, 2x2 windows, stride 2. */
function pool(): Int32Array {
  const p = new Int32Array(CONV_PARAM_COUNT);
  p[ConvParam.N] = 1;
  p[ConvParam.H] = 4;
  p[ConvParam.W] = 4;
  p[ConvParam.Cin] = 1;
  p[ConvParam.OutH] = 2;
  p[ConvParam.OutW] = 2;
  p[ConvParam.KernelH] = 2;
  p[ConvParam.KernelW] = 2;
  p[ConvParam.StrideH] = 2;
  p[ConvParam.StrideW] = 2;
  return p;
}

describe.skipIf(!nativeBuilt)(`native kernels' argument checks${nativeSkipReason}`, () => {
  const k = (nativeBuilt ? (loadNativeKernels() as { kernels: NativeKernels }).kernels : undefined) as NativeKernels;
  const heap = new Uint8Array(1024);
  // Four 16-float tensors at 0, 64, 128, 192 (bytes); the scale at 256.
  const [a, b, c, d, s] = [0, 64, 128, 192, 256];

  it('runs a well-formed call', () => {
    expect(thrownBy(() => k.pgQuantSplit(heap, a, s, b, c, d, elt(16)))).toBeUndefined();
  });

  it('rejects a heap that is not a Uint8Array', () => {
    const notHeap = new Float32Array(256) as unknown as Uint8Array;
    expect(thrownBy(() => k.pgQuantSplit(notHeap, a, s, b, c, d, elt(16)))).toEqual(args('TypeError', 'heap must be a Uint8Array'));
    expect(thrownBy(() => k.pgMaxPool({} as Uint8Array, a, b, c, pool()))).toEqual(args('Error', 'heap must be a Uint8Array'));
    expect(thrownBy(() => k.columnCopy(notHeap, 0, 1, 64, 1, 1, 1))).toEqual(args('TypeError', 'heap must be a Uint8Array'));
  });

  it('rejects element-wise parameters of the wrong kind, length or values', () => {
    expect(thrownBy(() => k.pgGateForward(heap, a, b, -1, s, c, d, a, -1, -1, new Int32Array(6)))).toEqual(
      args('TypeError', "params must be an Int32Array of the element-wise op's 8 parameters"),
    );
    expect(thrownBy(() => k.pgQuantizeWeights(heap, a, b, [16, 1, 4, 2, 1, 0, 0] as unknown as Int32Array))).toEqual(args('Error', 'params must be an Int32Array'));
    const badBits = elt(16);
    badBits[EltParam.Bits] = 17;
    expect(thrownBy(() => k.pgQuantBackward(heap, a, b, c, s, d, -1, badBits))).toEqual(args('RangeError', 'invalid element-wise parameters'));
    const badTail = elt(16);
    badTail[EltParam.Tail] = 3;
    expect(thrownBy(() => k.pgGateForward(heap, a, b, c, s, c, d, -1, -1, -1, badTail))).toEqual(args('RangeError', 'invalid element-wise parameters'));
    // The parameters are read before any offset: a bad offset does not decide the error.
    expect(thrownBy(() => k.pgQuantBackward(heap, 1 << 20, b, c, s, d, -1, elt(15, 2)))).toEqual(args('RangeError', 'invalid element-wise parameters'));
  });

  it('rejects offsets outside the heap, misaligned or not numbers', () => {
    const range = args('RangeError', "tensor offset out of the heap's bounds");
    expect(thrownBy(() => k.pgQuantSplit(heap, a, s, b, c, 1024 - 60, elt(16)))).toEqual(range);
    expect(thrownBy(() => k.pgFakeQuantBackward(heap, a, b, s + 2, c, d, elt(16)))).toEqual(range);
    // The scale's size is its E_SCALES entries, the gate's Δ its channels: Δ of 16 floats at 1024 - 32 is out.
    expect(thrownBy(() => k.pgGateForward(heap, a, b, -1, 1024 - 32, c, d, a, -1, -1, elt(16, 16)))).toEqual(range);
    expect(thrownBy(() => k.pgGateForward(heap, a, b, -1, 1024 - 32, c, d, a, -1, -1, elt(16, 8)))).toBeUndefined();
    // The gate offset and dz are optional but, when given, full-size tensors (16 floats at 1024 - 32 are out).
    expect(thrownBy(() => k.pgGateForward(heap, a, b, 1024 - 32, s, c, d, a, -1, -1, elt(16)))).toEqual(range);
    expect(thrownBy(() => k.pgGateForward(heap, a, b, c, s, c, d, a, -1, -1, elt(16)))).toBeUndefined();
    expect(thrownBy(() => k.pgGateBackward(heap, a, -1, b, c, -1, -1, a, b, 1024 - 32, s, -1, elt(16), 1))).toEqual(range);
    expect(thrownBy(() => k.pgMaxPoolBackward(heap, a, b, 1024 - 32, pool()))).toEqual(range);
    expect(thrownBy(() => k.pgQuantizeWeights(heap, a, '64' as unknown as number, elt(16)))).toEqual(args('Error', 'offsets must be numbers'));
  });

  it('rejects a missing tensor, after all offsets are checked', () => {
    const missing = args('Error', 'missing tensor');
    expect(thrownBy(() => k.pgQuantSplit(heap, -1, s, b, c, d, elt(16)))).toEqual(missing);
    // lb may be absent only without a split (HBits 0).
    expect(thrownBy(() => k.pgQuantSplit(heap, a, s, b, c, -1, elt(16)))).toEqual(missing);
    const noSplit = elt(16);
    noSplit[EltParam.HBits] = 0;
    expect(thrownBy(() => k.pgQuantSplit(heap, a, s, b, c, -1, noSplit))).toBeUndefined();
    // A sum output exactly when WantSum asks for one.
    expect(thrownBy(() => k.pgQuantBackward(heap, a, b, c, s, d, s + 4, elt(16)))).toEqual(missing);
    expect(thrownBy(() => k.pgQuantBackward(heap, a, b, c, s, d, -1, elt(16, 1, 1)))).toEqual(missing);
    expect(thrownBy(() => k.pgQuantBackward(heap, a, b, c, s, d, s + 4, elt(16, 1, 1)))).toBeUndefined();
    // dGate may be absent; dDelta may not.
    expect(thrownBy(() => k.pgGateBackward(heap, a, -1, b, c, -1, -1, a, b, -1, s, -1, elt(16), 1))).toBeUndefined();
    expect(thrownBy(() => k.pgGateBackward(heap, a, -1, b, c, -1, -1, a, b, -1, -1, -1, elt(16), 1))).toEqual(missing);
    // The residual Add in the gate's tail adds the offset: it must be there.
    const addRelu = elt(16);
    addRelu[EltParam.Tail] = 2;
    expect(thrownBy(() => k.pgGateForward(heap, a, b, -1, s, c, d, -1, -1, -1, addRelu))).toEqual(args('Error', 'the add-relu tail needs the offset'));
    expect(thrownBy(() => k.pgGateForward(heap, a, b, c, s, c, d, -1, -1, -1, addRelu))).toBeUndefined();
    // A ReLU tail's output, when given, is a full-size tensor.
    expect(thrownBy(() => k.pgGateBackward(heap, a, 1024 - 32, b, c, -1, -1, a, b, -1, s, -1, elt(16), 1))).toEqual(args('RangeError', "tensor offset out of the heap's bounds"));
    expect(thrownBy(() => k.pgGateBackward(heap, a, d, b, c, -1, -1, a, b, -1, s, -1, elt(16), 1))).toBeUndefined();
    // The gradient reaching M is a tensor or one value, not both.
    expect(thrownBy(() => k.pgGateBackward(heap, a, -1, b, c, d, s, a, b, -1, s, -1, elt(16), 1))).toEqual(args('Error', 'dGate and dgUniform are exclusive'));
    expect(thrownBy(() => k.pgGateBackward(heap, a, -1, b, c, -1, s, a, b, -1, s, -1, elt(16), 1))).toBeUndefined();
    // An out-of-bounds offset after a missing one: the bounds error wins.
    expect(thrownBy(() => k.pgFakeQuantBackward(heap, -1, b, s, c, 4096, elt(16)))).toEqual(args('RangeError', "tensor offset out of the heap's bounds"));
    expect(thrownBy(() => k.pgMaxPool(heap, a, -1, c, pool()))).toEqual(missing);
  });

  it("checks the GELU kernel's size and tensors", () => {
    expect(thrownBy(() => k.pgGelu(heap, a, b, c, 16))).toBeUndefined();
    expect(thrownBy(() => k.pgGelu(heap, a, b, c, 0))).toEqual(args('Error', 'size must be >= 1'));
    expect(thrownBy(() => k.pgGelu(heap, a, b, c, 'x' as unknown as number))).toEqual(args('Error', 'size must be an integer'));
    expect(thrownBy(() => k.pgGelu(heap, a, -1, c, 16))).toEqual(args('Error', 'missing tensor'));
    // 16 floats at 1000 end past the 1024-byte heap.
    expect(thrownBy(() => k.pgGelu(heap, a, b, 1000, 16))).toEqual(args('RangeError', "tensor offset out of the heap's bounds"));
  });

  it("checks the LayerNorm kernels' sizes, epsilon and tensors", () => {
    // x, y, x̂ 4 rows of 4 (16 floats each), γ and β 4 floats, r 4 floats.
    expect(thrownBy(() => k.pgLayerNorm(heap, a, s, s + 16, b, c, d, 4, 4, 1e-5))).toBeUndefined();
    expect(thrownBy(() => k.pgLayerNormBackward(heap, a, b, d, s, c, s + 16, s + 32, 4, 4))).toBeUndefined();
    expect(thrownBy(() => k.pgLayerNorm(heap, a, s, s + 16, b, c, d, 0, 4, 1e-5))).toEqual(args('Error', 'rows and channels must be >= 1'));
    expect(thrownBy(() => k.pgLayerNorm(heap, a, s, s + 16, b, c, d, 4, 4, 'e' as unknown as number))).toEqual(args('Error', 'epsilon must be a number'));
    expect(thrownBy(() => k.pgLayerNormBackward(heap, a, b, d, -1, c, s + 16, s + 32, 4, 4))).toEqual(args('Error', 'missing tensor'));
    // 64 rows of 4 floats from byte 768 end past the 1024-byte heap.
    expect(thrownBy(() => k.pgLayerNorm(heap, 768, s, s + 16, b, c, d, 64, 4, 1e-5))).toEqual(args('RangeError', "tensor offset out of the heap's bounds"));
  });

  it("checks the batched product's sizes and that its tensors lie in the heap", () => {
    // 2 matrices of 2x2 each: 8 floats per operand.
    expect(thrownBy(() => k.batchMatMul(heap, a, b, c, 2, 2, 2, 2, 0, 1))).toBeUndefined();
    expect(thrownBy(() => k.batchMatMul(heap, a, b, c, 0, 2, 2, 2, 0, 0))).toEqual(args('Error', 'invalid matrix product sizes'));
    expect(thrownBy(() => k.batchMatMul(heap, a, b, c, 2, 2, 2, 2, 2 as 0, 0))).toEqual(args('Error', 'invalid matrix product sizes'));
    expect(thrownBy(() => k.batchMatMul(heap, a, b, c, 2, 2, 'x' as unknown as number, 2, 0, 0))).toEqual(args('Error', 'sizes must be integers'));
    // 64 matrices of 2x2 from byte 0 end past the 1024-byte heap.
    expect(thrownBy(() => k.batchMatMul(heap, a, b, c, 64, 2, 2, 2, 0, 0))).toEqual(args('RangeError', "tensor offset out of the heap's bounds"));
  });

  it('rejects the remaining scalar arguments by name', () => {
    expect(thrownBy(() => k.pgGateBackward(heap, a, -1, b, c, -1, -1, a, b, -1, s, -1, elt(16), 'x' as unknown as number))).toEqual(args('Error', 'alpha must be a number'));
    const badPool = pool();
    badPool[ConvParam.StrideH] = 0;
    expect(thrownBy(() => k.pgMaxPool(heap, a, b, c, badPool))).toEqual(args('RangeError', 'invalid pooling parameters'));
    expect(thrownBy(() => k.pgMaxPool(heap, a, b, c, new Int32Array(7)))).toEqual(args('TypeError', "params must be an Int32Array of the convolution's 21 parameters"));
    expect(thrownBy(() => k.columnCopy(heap, 0, 1, 64, 1, 1, null as unknown as number))).toEqual(args('Error', 'column copy arguments must be numbers'));
    expect(thrownBy(() => k.columnCopy(heap, 0, 1, 1020, 1, 2, 1))).toEqual(args('RangeError', "column copy out of the heap's bounds"));
    expect(thrownBy(() => k.setThreads(0))).toEqual(args('RangeError', 'threads must be >= 1'));
    expect(thrownBy(() => k.setThreads('2' as unknown as number))).toEqual(args('Error', 'threads must be a number'));
  });

  it("checks the LSTM kernels' parameters and that every tensor their sizes imply lies in the heap", () => {
    // T 2, N 1, H 2: xp 16 floats, rt 16, h0 and c0 2, y 4, saved 20.
    const lstm = (steps: number, reverse = 0) => {
      const p = new Int32Array(LSTM_PARAM_COUNT);
      p[LstmParam.Steps] = steps;
      p[LstmParam.Batch] = 1;
      p[LstmParam.Hidden] = 2;
      p[LstmParam.Reverse] = reverse;
      return p;
    };
    expect(thrownBy(() => k.lstmForward(heap, 0, 64, 128, 136, 144, 160, lstm(2)))).toBeUndefined();
    expect(thrownBy(() => k.lstmForward(heap, 0, 64, 128, 136, 144, 160, lstm(2, 1)))).toBeUndefined();
    expect(thrownBy(() => k.lstmForward(heap, 0, 64, 128, 136, 144, 160, lstm(0)))).toEqual(args('RangeError', 'invalid LSTM parameters'));
    expect(thrownBy(() => k.lstmForward(heap, 0, 64, 128, 136, 144, 160, lstm(2, 2)))).toEqual(args('RangeError', 'invalid LSTM parameters'));
    // saved [T, N, 5H] of a 40-step sequence does not fit after byte 160.
    expect(thrownBy(() => k.lstmForward(heap, 0, 64, 128, 136, 144, 160, lstm(40)))).toEqual(args('RangeError', "tensor offset out of the heap's bounds"));
    expect(thrownBy(() => k.lstmBackward(heap, 64, 144, 160, 128, 136, 240, 256, 264, 272, 336, 344, -1, lstm(2)))).toEqual(args('Error', 'missing tensor'));
    expect(thrownBy(() => k.lstmBackward(heap, 64, 144, 160, 128, 136, 240, 256, 264, 272, 336, 344, 352, lstm(2)))).toBeUndefined();
  });
});
