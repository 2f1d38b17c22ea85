/**
 * Node's fetch has no cookie jar, so the tests give the client this one: it keeps what
 * `Set-Cookie` says (by name; `Max-Age=0` or an empty value deletes) and sends it back as
 * `Cookie` on every request. Path, domain and Secure are ignored: there is one server, on
 * http://127.0.0.1, and the Secure session cookie is sent by hand.
 */
export interface CookieJarFetch {
  fetch: (input: Request) => Promise<Response>;
  /** name -> value */
  jar: Map<string, string>;
  /** Every request as the client built it, before cookies were added. */
  requests: Request[];
  /** Every raw `Set-Cookie` header received. */
  setCookies: string[];
}

export function cookieJarFetch(jar: Map<string, string> = new Map()): CookieJarFetch {
  const requests: Request[] = [];
  const setCookies: string[] = [];
  const fetchWithJar = async (input: Request): Promise<Response> => {
    requests.push(input);
    const headers = new Headers(input.headers);
    if (jar.size > 0) {
      headers.set("Cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const response = await fetch(new Request(input, { headers }));
    for (const line of response.headers.getSetCookie()) {
      setCookies.push(line);
      const [pair = "", ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a));
      if (expired || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  return { fetch: fetchWithJar, jar, requests, setCookies };
}
