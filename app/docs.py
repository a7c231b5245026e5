"""The interactive API docs at ``/docs``: Swagger UI from the ``swagger-ui-bundle`` package.

Every asset is served by this app (the machines have no internet, and a CDN would see who
reads the docs); the page has no inline script, so a strict Content-Security-Policy holds.
Public like ``/openapi.json``: a reader pastes a token into "Authorize" to try operations.
"""
from html import escape

from flask import Blueprint, Response, abort, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from app.auth import public

bp = Blueprint("docs", __name__)

# The files of the bundle the page uses, with their media types (not guessed per platform).
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
INITIALIZER = "docs.js"
ASSET_MAX_AGE_SECONDS = 3600
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; "
                           "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")

# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
# persistAuthorization false: a pasted token is not kept in the browser's storage.
INITIALIZER_JS = """\
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
});
"""

PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sentiment platform API</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" type="image/png" href="{icon}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{preset}"></script>
<script src="{initializer}"></script>
</body>
</html>
"""


@bp.get("/docs")
@public
def page():
    """The interactive documentation of this API (Swagger UI)."""
    def asset(name: str) -> str:
        return escape(url_for("docs.asset", filename=name))

    html = PAGE.format(css=asset("swagger-ui.css"), icon=asset("favicon-32x32.png"),
                       bundle=asset("swagger-ui-bundle.js"),
                       preset=asset("swagger-ui-standalone-preset.js"),
                       initializer=asset(INITIALIZER),
                       spec=escape(url_for("openapi.openapi_document")))
    return Response(html, content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


@bp.get("/docs/<filename>")
@public
def asset(filename: str):
    """One file of the docs page: Swagger UI's, or its initializer."""
    if filename == INITIALIZER:
        return Response(INITIALIZER_JS, content_type="text/javascript; charset=utf-8")
    if filename not in ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), filename, mimetype=ASSETS[filename],
                               max_age=ASSET_MAX_AGE_SECONDS)
