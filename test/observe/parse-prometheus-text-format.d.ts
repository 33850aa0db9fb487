// Types of the npm package parse-prometheus-text-format (it ships none): families as it returns them.
declare module 'parse-prometheus-text-format' {
  interface Sample {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export default function parse(text: string): { name: string; help: string; type: string; metrics: Sample[] }[];
}
