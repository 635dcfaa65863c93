export * from './constants.ts';
export * from './errors.ts';
export * from './frame.ts';
export { compileLayout, type BodyCodec, type FieldType, type Layout, type Shape } from './layout.ts';
export * from './messages.ts';
