import path from "node:path";
import ApiGateway from "moleculer-web";
import type { GatewayResponse, IncomingRequest } from "moleculer-web";
import type { Middleware } from "./middleware";

/**
 * The API docs page: swagger-ui from the swagger-ui-dist package (served from
 * node_modules, no CDN) pointed at the generated /openapi.json. The page and
 * its initializer are ours; the assets are the package's files.
 */
export const SWAGGER_UI_DIR = path.dirname(require.resolve("swagger-ui-dist/package.json"));

export function docsPage(assetsBase: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>API documentation</title>
    <link rel="stylesheet" href="${assetsBase}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="${assetsBase}/favicon-32x32.png" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${assetsBase}/swagger-ui-bundle.js"></script>
    <script src="${assetsBase}/swagger-ui-standalone-preset.js"></script>
    <script src="${assetsBase}/init.js"></script>
  </body>
</html>
`;
}

/** Kept out of the page so a strict Content-Security-Policy (no inline scripts) works. */
export function docsInitializer(specUrl: string): string {
  return `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(specUrl)},
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
`;
}

/** An alias handler that sends a fixed body. */
export function sendText(contentType: string, body: string) {
  return (_req: IncomingRequest, res: GatewayResponse): void => {
    res.writeHead(200, {
      "Content-Type": `${contentType}; charset=utf-8`,
      "Content-Length": Buffer.byteLength(body),
      "Cache-Control": "no-cache",
    });
    res.end(body);
  };
}

type ServeStatic = (root: string, options: Record<string, unknown>) => Middleware;

// The package also ships a demo index.html and initializer (the Petstore): not served.
const ASSET =
  /^\/(swagger-ui(-bundle|-standalone-preset)?\.(js|css)(\.map)?|favicon-\d+x\d+\.png|oauth2-redirect\.(html|js))$/;

/** swagger-ui's files; anything else falls through to the gateway's 404. */
export function swaggerAssets(): Middleware {
  const serveStatic = ApiGateway.serveStatic as unknown as ServeStatic;
  const serve = serveStatic(SWAGGER_UI_DIR, { index: false, fallthrough: true, maxAge: "1h" });
  return (req, res, next) =>
    ASSET.test(req.url?.split("?")[0] ?? "") ? serve(req, res, next) : next();
}
