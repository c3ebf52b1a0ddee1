/** Vite's `?raw` suffix: the file's text, inlined at build time (test fixtures read inside workerd). */
declare module '*?raw' {
  const text: string;
  export default text;
}
