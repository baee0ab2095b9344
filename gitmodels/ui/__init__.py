"""The model history as a web page: `gitmodels ui` serves it, `gitmodels report` writes it as static files.

- `data`: the page's documents (model list, one model's versions, one version's pointer), built from
  `gitmodels.history` alone: nothing here checks anything out or reads the working tree's models;
- `server`: a loopback-only `http.server` that answers `/api/*` with those documents and serves the
  packaged assets in `static/` (by name from a fixed list, never by joining a path);
- `report`: the same page written to a folder with every document embedded in `data.js`, so it
  opens from disk with no server and no network.

The page (`static/app.js`, plain JS, SVG plots drawn by hand) is the same in both cases: it reads
`window.GITMODELS_DATA` when the report embedded it, and asks the API otherwise.
"""
