// The subscription routing of IVEN's GraphiQL page (iven_gql/graphiql.html), run on its own:
// the page's fetcher code between `function findHeader` and `function GraphiQLWithExplorer`
// with GraphiQL's fetcher replaced by a recorder. Usage: node graphiql_fetcher.mjs HTML_PATH
// Prints {"<case>": {"ws": bool, "headers": …}} where `ws` says GraphiQL's fetcher would take
// the WebSocket (it routes on fetcherOpts.documentAST, as isSubscriptionWithName does).
import { readFileSync } from 'node:fs';
import { parse, visit } from 'graphql';

const html = readFileSync(process.argv[2], 'utf8');
const start = html.indexOf('function findHeader');
const end = html.indexOf('function GraphiQLWithExplorer');
if (start < 0 || end < 0) throw new Error('fetcher code not found in the page');

const calls = [];
const baseFetcher = (params, opts) => calls.push({ params, opts });
const fetcher = new Function('baseFetcher', `${html.slice(start, end)}; return fetcher;`)(baseFetcher);

// GraphiQL's own test (graphiql-toolkit isSubscriptionWithName)
function routedToWebSocket(opts, operationName) {
  if (!opts || !opts.documentAST) return false;
  let found = false;
  visit(opts.documentAST, {
    OperationDefinition(node) {
      if ((operationName || undefined) === node.name?.value && node.operation === 'subscription') found = true;
    },
  });
  return found;
}

const headers = { Authorization: 'Bearer t', 'X-Other': '1' };
const cases = {
  'subscription, parsed': ['subscription { sessionStatus }', undefined, true],
  'subscription, run before parsing': ['subscription { sessionStatus }', undefined, false],
  'named subscription among others, run before parsing': [
    '# a comment with subscription in it\nquery A { me { id } }\nsubscription B($x: Int = 1) { sessionStatus(intervalSeconds: $x) }',
    'B',
    false,
  ],
  'named query among others, run before parsing': [
    'query A { me { id } }\nsubscription B { sessionStatus }',
    'A',
    false,
  ],
  'anonymous query, run before parsing': ['{ me { id subscription: id } }', undefined, false],
  'mutation with a string, run before parsing': [
    'mutation { login(input: {email: "subscription { x }", password: "p"}) { accessToken } }',
    undefined,
    false,
  ],
};
const result = {};
for (const [name, [query, operationName, parsed]] of Object.entries(cases)) {
  calls.length = 0;
  const opts = { headers, documentAST: parsed ? parse(query) : undefined };
  fetcher({ query, operationName }, opts);
  const [{ opts: passed }] = calls;
  result[name] = { ws: routedToWebSocket(passed, operationName), headers: passed.headers };
}
console.log(JSON.stringify(result));
