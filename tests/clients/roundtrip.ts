// Phase `run` of the TypeScript round trip, compiled (tsc --strict) against the spec fetched
// AFTER roundtrip_setup.js created `author` and `post` (generated/schema.d.ts).
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { BASE, EMAIL, PASSWORD, check, main } from "./common.js";

type Category = components["schemas"]["PostCategory"];
type ErrorBody = components["schemas"]["ErrorBody"];

await main("run", async () => {
  const anon = createClient<paths>({ baseUrl: BASE });
  const login = await anon.POST("/api/v1/auth/login", { body: { email: EMAIL, password: PASSWORD } });
  check(login.data !== undefined, `login: status ${login.response.status}: ${JSON.stringify(login.error)}`);
  const client = createClient<paths>({
    baseUrl: BASE,
    headers: { Authorization: `Bearer ${login.data.access_token}` },
  });

  const a = await client.POST("/api/v1/manage/entries/author", { body: { fields: { name: "Ada Lovelace" } } });
  check(a.data !== undefined, `createAuthor: status ${a.response.status}: ${JSON.stringify(a.error)}`);
  const authorId = a.data.id;
  const pa = await client.POST("/api/v1/manage/entries/{type_id}/{id}/publish", {
    params: { path: { type_id: "author", id: authorId } },
  });
  check(pa.data !== undefined, `publishEntry author: ${pa.response.status}: ${JSON.stringify(pa.error)}`);

  const c = await client.POST("/api/v1/manage/entries/post", {
    body: {
      fields: {
        title: "Hello Round Trip",
        summary: "A longer summary.",
        body: { type: "doc" },
        rating: 7,
        price: 12.5,
        featured: true,
        day: "2026-01-02",
        released_at: "2026-01-02T03:04:05Z",
        category: "guide",
        contact: "ada@example.com",
        homepage: "https://example.com/ada",
        meta: { k: [1, 2, { x: null }] },
        author: authorId,
        links: [{ label: "Home", url: "https://example.com" }],
        cost: 42,
      },
    },
  });
  check(c.data !== undefined, `createPost: status ${c.response.status}: ${JSON.stringify(c.error)}`);
  check(c.response.status === 201, `createPost: status ${c.response.status}, want 201`);
  const etag = c.response.headers.get("etag");
  check(etag !== null && etag !== "", "createPost: no ETag header");
  const created = c.data;
  check(created.fields.slug === "hello-round-trip", `createPost: slug ${created.fields.slug}`);
  check(created.fields.cost === 42, `createPost: managed cost ${created.fields.cost}`);
  const postId = created.id;

  const u = await client.PATCH("/api/v1/manage/entries/post/{id}", {
    params: { path: { id: postId }, header: { "If-Match": etag } },
    body: { fields: { rating: 8 } },
  });
  check(u.data !== undefined, `updatePost: status ${u.response.status}: ${JSON.stringify(u.error)}`);
  check(u.data.fields.rating === 8 && u.data.version > created.version, `updatePost: ${JSON.stringify(u.data)}`);

  const s = await client.PATCH("/api/v1/manage/entries/post/{id}", {
    params: { path: { id: postId }, header: { "If-Match": etag } },
    body: { fields: { rating: 9 } },
  });
  check(s.response.status === 412, `stale If-Match: status ${s.response.status}, want 412`);
  check(s.error !== undefined, "stale If-Match: no error body");
  const stale: ErrorBody = s.error;
  check(stale.error.code !== "", "stale If-Match: empty error.code");

  const p = await client.POST("/api/v1/manage/entries/{type_id}/{id}/publish", {
    params: { path: { type_id: "post", id: postId } },
  });
  check(p.data !== undefined, `publishEntry: status ${p.response.status}: ${JSON.stringify(p.error)}`);
  check(p.data.status === "published", `publishEntry: status ${p.data.status}`);

  const more: Array<[string, number, Category]> = [
    ["News One", 2, "news"],
    ["News Two", 9, "news"],
    ["Review One", 5, "review"],
    ["Review Two", 10, "review"],
    ["Guide Two", 1, "guide"],
  ];
  for (const [title, rating, category] of more) {
    const r = await client.POST("/api/v1/manage/entries/post", { body: { fields: { title, rating, category } } });
    check(r.data !== undefined, `createPost ${title}: status ${r.response.status}: ${JSON.stringify(r.error)}`);
    const rp = await client.POST("/api/v1/manage/entries/{type_id}/{id}/publish", {
      params: { path: { type_id: "post", id: r.data.id } },
    });
    check(rp.data !== undefined, `publishEntry ${title}: ${rp.response.status}: ${JSON.stringify(rp.error)}`);
  }
  const all: Array<[string, number, Category]> = [["Hello Round Trip", 8, "guide"], ...more];
  const titles = (items: Array<{ fields: { title?: string } }>): string[] =>
    items.map((i) => i.fields.title ?? "").sort();

  // flat filter parameters on the delivery list
  const l = await client.GET("/api/v1/content/post", {
    params: { query: { "filter[rating][gte]": 5, "filter[category][in]": ["news", "guide"] } },
  });
  check(l.data !== undefined, `listPost filter: status ${l.response.status}: ${JSON.stringify(l.error)}`);
  const want = all.filter(([, r, c]) => r >= 5 && (c === "news" || c === "guide")).map(([t]) => t).sort();
  const got = titles(l.data.items);
  check(JSON.stringify(got) === JSON.stringify(want), `listPost filter: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  check(l.data.total === want.length, `listPost filter: total ${l.data.total}, want ${want.length}`);
  for (const item of l.data.items) check(!("cost" in item.fields), "listPost: private field cost delivered");

  // JSON query with an `or` group
  const q = await client.POST("/api/v1/query/post", {
    body: { filter: { or: [{ rating: { lte: 2 } }, { category: { eq: "review" } }] }, sort: "title" },
  });
  check(q.data !== undefined, `queryPost: status ${q.response.status}: ${JSON.stringify(q.error)}`);
  const wantQ = all.filter(([, r, c]) => r <= 2 || c === "review").map(([t]) => t).sort();
  const gotQ = q.data.items.map((i) => i.fields.title ?? "");
  check(JSON.stringify(gotQ) === JSON.stringify(wantQ), `queryPost or: ${JSON.stringify(gotQ)}, want ${JSON.stringify(wantQ)}`);

  // cursor walk
  const ids: string[] = [];
  let cursor: string | null = null;
  let total = -1;
  for (let pages = 1; ; pages++) {
    check(pages <= 20, "cursor walk: more than 20 pages");
    const query: { limit: number; cursor?: string } = cursor === null ? { limit: 2 } : { limit: 2, cursor };
    const page = await client.GET("/api/v1/content/post", { params: { query } });
    check(page.data !== undefined, `cursor walk: status ${page.response.status}: ${JSON.stringify(page.error)}`);
    check(page.data.items.length <= 2, `cursor walk: page of ${page.data.items.length}`);
    for (const i of page.data.items) ids.push(i.id);
    total = page.data.total;
    cursor = page.data.next_cursor ?? null;
    if (cursor === null) break;
  }
  check(ids.length === total && total === all.length, `cursor walk: saw ${ids.length}, total ${total}, published ${all.length}`);
  check(new Set(ids).size === ids.length, `cursor walk: duplicates in ${JSON.stringify(ids)}`);

  // one type's search: its filter and sort parameters as generated, hits typed as posts
  // (the index commits within a quarter second: ask until both are found)
  let hits: Array<{ entry: { fields: { title?: string } } }> = [];
  for (let tries = 0; tries < 50 && hits.length < 2; tries++) {
    const sr = await client.GET("/api/v1/search/post", {
      params: { query: { q: "review", "filter[rating][gte]": 5, sort: "-rating", limit: 10 } },
    });
    check(sr.data !== undefined, `searchPost: status ${sr.response.status}: ${JSON.stringify(sr.error)}`);
    hits = sr.data.items;
    check(sr.data.items.every((h) => !("cost" in h.entry.fields)), "searchPost: private field cost delivered");
    if (hits.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  const gotS = hits.map((h) => h.entry.fields.title ?? "");
  check(JSON.stringify(gotS) === '["Review Two","Review One"]', `searchPost: ${JSON.stringify(gotS)}`);

  // delivery by slug
  const slug = created.fields.slug;
  check(typeof slug === "string", "createPost: no slug");
  const g = await client.GET("/api/v1/content/post/{idOrSlug}", { params: { path: { idOrSlug: slug } } });
  check(g.data !== undefined, `getPost by slug: status ${g.response.status}: ${JSON.stringify(g.error)}`);
  check(g.data.id === postId, `getPost: id ${g.data.id}, want ${postId}`);
  check(g.data.fields.rating === 8 && g.data.fields.title === "Hello Round Trip", `getPost: ${JSON.stringify(g.data.fields)}`);
  check(JSON.stringify(g.data.fields.links?.map((x) => x.label)) === '["Home"]', `getPost: links ${JSON.stringify(g.data.fields.links)}`);
  check(!("cost" in g.data.fields), "getPost: private field cost delivered");

  // 422: a blank title (required text refuses whitespace-only values), read as ErrorBody.
  const bad: components["schemas"]["PostCreate"] = { fields: { title: "   ", rating: 3 } };
  const v = await client.POST("/api/v1/manage/entries/post", { body: bad });
  check(v.response.status === 422, `blank title: status ${v.response.status}, want 422`);
  check(v.error !== undefined, "blank title: no error body");
  const err: ErrorBody = v.error;
  const details = err.error.details;
  check(
    typeof details === "object" && details !== null && JSON.stringify(details).includes("title"),
    `blank title: error.details ${JSON.stringify(details)} does not name title`,
  );
  console.log("run: ok");
});
