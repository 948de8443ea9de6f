// Text imports (`import x from "./f.sql" with { type: "text" }`) are embedded by `bun build --compile`.
declare module "*.sql" {
  const text: string;
  export default text;
}
