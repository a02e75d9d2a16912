import type { Node } from '../graph/index.js';
import { UnsupportedModelError } from '../errors/index.js';

/** Typed attribute access with defaults; a wrong type is the model's fault and says which node. */
export function attrInt(node: Node, name: string, def: number): number;
export function attrInt(node: Node, name: string): number | undefined;
export function attrInt(node: Node, name: string, def?: number): number | undefined {
  const a = node.attributes[name];
  if (!a) return def;
  if (a.type !== 'int') throw badType(node, name, 'int', a.type);
  return a.value;
}

export function attrFloat(node: Node, name: string, def: number): number;
export function attrFloat(node: Node, name: string): number | undefined;
export function attrFloat(node: Node, name: string, def?: number): number | undefined {
  const a = node.attributes[name];
  if (!a) return def;
  if (a.type === 'float' || a.type === 'int') return a.value;
  throw badType(node, name, 'float', a.type);
}

export function attrInts(node: Node, name: string): number[] | undefined {
  const a = node.attributes[name];
  if (!a) return undefined;
  if (a.type !== 'ints') throw badType(node, name, 'ints', a.type);
  return a.value;
}

export function attrFloats(node: Node, name: string): number[] | undefined {
  const a = node.attributes[name];
  if (!a) return undefined;
  if (a.type !== 'floats') throw badType(node, name, 'floats', a.type);
  return a.value;
}

export function attrString(node: Node, name: string, def: string): string;
export function attrString(node: Node, name: string): string | undefined;
export function attrString(node: Node, name: string, def?: string): string | undefined {
  const a = node.attributes[name];
  if (!a) return def;
  if (a.type !== 'string') throw badType(node, name, 'string', a.type);
  return a.value;
}

export function attrStrings(node: Node, name: string): string[] | undefined {
  const a = node.attributes[name];
  if (!a) return undefined;
  if (a.type !== 'strings') throw badType(node, name, 'strings', a.type);
  return a.value;
}

function badType(node: Node, name: string, want: string, got: string): UnsupportedModelError {
  return new UnsupportedModelError(`node '${node.name}' (${node.opType}): attribute '${name}' should be ${want}, found ${got}`, {
    action: 'check the model with onnx.checker; re-export it with a supported opset',
  });
}
