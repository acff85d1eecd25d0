// Phase `setup` of the TypeScript round trip, compiled against the STATIC spec
// (generated/static.d.ts: the admin's /openapi.json before any content type exists).
// Logs in and creates the content types `author` and `post` through the typed client.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/static.js";
import { BASE, EMAIL, PASSWORD, check, main } from "./common.js";

type ContentType = components["schemas"]["ContentType"];

await main("setup", async () => {
  const anon = createClient<paths>({ baseUrl: BASE });
  const login = await anon.POST("/api/v1/auth/login", { body: { email: EMAIL, password: PASSWORD } });
  check(login.data !== undefined, `login: status ${login.response.status}: ${JSON.stringify(login.error)}`);
  const client = createClient<paths>({
    baseUrl: BASE,
    headers: { Authorization: `Bearer ${login.data.access_token}` },
  });

  const author: ContentType = {
    api_id: "author",
    name: "Author",
    options: { title_field: "name" },
    fields: [
      { name: "name", type: "text", required: true },
      { name: "bio", type: "longtext" },
    ],
  };
  const post: ContentType = {
    api_id: "post",
    name: "Post",
    options: { title_field: "title" },
    fields: [
      { name: "title", type: "text", required: true, validations: { max_length: 120 } },
      { name: "summary", type: "longtext" },
      { name: "body", type: "richtext" },
      { name: "rating", type: "integer", indexed: true, validations: { min: 0, max: 10 } },
      { name: "price", type: "decimal" },
      { name: "featured", type: "boolean" },
      { name: "day", type: "date" },
      { name: "released_at", type: "datetime" },
      { name: "category", type: "enum", values: ["news", "guide", "review"] },
      { name: "contact", type: "email" },
      { name: "homepage", type: "url" },
      { name: "slug", type: "slug", source: "title", unique: true },
      { name: "meta", type: "json" },
      { name: "cover", type: "media" },
      { name: "author", type: "relation", target: "author", many: false },
      {
        name: "links",
        type: "component",
        repeatable: true,
        component: "link",
        fields: [
          { name: "label", type: "text", required: true },
          { name: "url", type: "url" },
        ],
      },
      { name: "cost", type: "integer", private: true },
    ],
  };
  for (const ct of [author, post]) {
    const res = await client.POST("/api/v1/manage/content-types", { body: ct });
    check(
      res.response.status === 201 && res.data !== undefined,
      `createContentType ${ct.api_id}: status ${res.response.status}: ${JSON.stringify(res.error)}`,
    );
  }
  console.log("setup: created content types author, post");
  const made = await client.POST("/api/v1/manage/locales", {
    body: { code: "nl", name: "Dutch", fallback: "en" },
  });
  check(
    made.response.status === 201 && made.data?.chain.join(">") === "nl>en",
    `createLocale: status ${made.response.status}: ${JSON.stringify(made.error)}`,
  );
  const changed = await client.PATCH("/api/v1/manage/locales/{code}", {
    params: { path: { code: "nl" } },
    body: { name: "Nederlands", fallback: null },
  });
  const fallback: string | null | undefined = changed.data?.fallback;
  check(changed.response.status === 200 && fallback === null, `updateLocale: ${JSON.stringify(changed.error)}`);
  const listed = await client.GET("/api/v1/manage/locales");
  const codes: string[] = (listed.data?.items ?? []).map((l) => l.code);
  check(codes.includes("nl") && codes.includes("en"), `listLocales: ${codes}`);
  const gone = await client.DELETE("/api/v1/manage/locales/{code}", { params: { path: { code: "nl" } } });
  check(gone.response.status === 204, `deleteLocale: status ${gone.response.status}`);
  const again = await client.GET("/api/v1/manage/locales/{code}", { params: { path: { code: "nl" } } });
  check(again.response.status === 404 && again.error?.error.code === "not_found", "getLocale after delete");
  console.log("setup: locales created, changed, listed, deleted");
});
