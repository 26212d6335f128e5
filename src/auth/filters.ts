/**
 * Topic Filter algebra for access control: whether every topic one filter matches is matched by another
 * (`filterWithin`), and whether two filters match any topic in common (`filtersIntersect`). Both follow
 * the matching rules of MQTT 5.0 section 4.7: `+` is one level, `#` (last) is the parent level and any
 * number of levels below, and a filter starting with a wildcard matches no topic starting with `$`
 * ([MQTT-4.7.2-1]). Filters are given split into levels.
 */

const isWildcard = (level: string | undefined): boolean => level === '+' || level === '#';
const startsWithDollar = (level: string | undefined): boolean => level?.startsWith('$') === true;

/** True when every topic `inner` matches is also matched by `outer`. */
export function filterWithin(inner: readonly string[], outer: readonly string[]): boolean {
  // `outer` starting with a wildcard matches no `$` topic: `inner` must not match one either.
  if (isWildcard(outer[0]) && startsWithDollar(inner[0])) return false;
  for (let i = 0; ; i++) {
    const o = outer[i];
    const n = inner[i];
    if (o === '#') return true;
    if (n === undefined) {
      // `inner` ends here: so must `outer` (an `outer` going on with `/#` returned true above).
      return o === undefined;
    }
    if (o === undefined) return false;
    if (n === '#') return false; // `outer` has no `#` here, and `inner` matches deeper topics
    if (n === '+') {
      if (o !== '+') return false;
      continue;
    }
    if (o !== '+' && o !== n) return false;
  }
}

/** True when some topic is matched by both filters. */
export function filtersIntersect(a: readonly string[], b: readonly string[]): boolean {
  // A filter starting with a wildcard matches no `$` topic; one starting with a `$` level only `$` topics.
  if ((isWildcard(a[0]) && startsWithDollar(b[0])) || (isWildcard(b[0]) && startsWithDollar(a[0]))) return false;
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return true; // `#` also matches the parent level, where the other may end
    if (x === undefined || y === undefined) return x === y;
    if (x !== '+' && y !== '+' && x !== y) return false;
  }
}

/** Levels of a topic or filter. */
export function levels(filter: string): string[] {
  return filter.split('/');
}
