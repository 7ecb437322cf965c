"""The web application of `allennlp serve-compare` (FastAPI): the page, and the comparison as JSON."""
import asyncio
import contextlib
import json
from importlib import resources
from typing import Any, Dict, List, Optional
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from attention_perturb.serve.batching import MicroBatcher
from attention_perturb.serve.comparison import BadRequest, Comparison, ModelComparison

MAX_BODY_BYTES = 2 * 1024 * 1024
EXAMPLES_ON_PAGE = 1000


def decoded(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(
            f"{what} is not valid UTF-8 (byte 0x{raw[error.start]:02x} at position {error.start}): send the text as UTF-8"
        ) from None


def query_parameters(query_string: bytes) -> Dict[str, str]:
    """The query's parameters, percent-decoded and then decoded as strict UTF-8: starlette's own
    parser would replace invalid bytes by U+FFFD, and the models would explain a text nobody typed."""
    parameters: Dict[str, str] = {}
    for part in query_string.split(b"&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition(b"=")
        key = decoded(unquote_to_bytes(raw_key.replace(b"+", b" ")), "a parameter name of the query")
        if key in parameters:
            raise BadRequest(f"the query gives {key!r} twice")
        parameters[key] = decoded(unquote_to_bytes(raw_value.replace(b"+", b" ")), f"the query's {key!r}")
    return parameters


async def request_parameters(request: Request) -> Any:
    if request.method == "GET":
        return query_parameters(request.scope["query_string"])
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body has {len(body):,} bytes; the most it may have is {MAX_BODY_BYTES:,}")
    try:
        return json.loads(decoded(body, "the request body"))
    except json.JSONDecodeError as error:
        raise BadRequest(f"the request body is not JSON ({error.msg}, column {error.colno})") from None


def page_template() -> str:
    """page.html, read as the UTF-8 it is whatever the locale's encoding."""
    return resources.files("attention_perturb.serve").joinpath("page.html").read_text(encoding="utf-8")


def page(comparison: ModelComparison, examples: List[Dict]) -> str:
    config = {**comparison.describe(), "examples": examples[:EXAMPLES_ON_PAGE], "example_count": len(examples)}
    # In a <script> element, "</" could end it early; \u003c is the same character to JSON.
    config_json = json.dumps(config).replace("<", "\\u003c")
    return page_template().replace("/*CONFIG*/null", config_json)


def create_app(comparison: ModelComparison, examples: Optional[List[Dict]] = None, max_batch: int = 64) -> FastAPI:
    """
    The application: `GET /` the page; `GET /api/batches` the batches answered so far, by size;
    `GET /api/compare?text=...&question=...&measure=...` (what
    the page's permalinks ask) or `POST /api/compare` with the same keys as a JSON object answers
    every model at once (`ModelComparison.answer`); a request the models cannot answer gets status
    400 and `{"error": "..."}`. Requests that arrive together are answered in one batch
    (`MicroBatcher`), on one worker thread, so the event loop keeps accepting requests meanwhile.
    """
    batcher: MicroBatcher[Comparison, Dict] = MicroBatcher(comparison.compare, max_batch=max_batch)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)  # no schema, and so no /docs or /redoc pages either
    app.state.batcher = batcher
    html = page(comparison, examples or [])

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(html)

    @app.api_route("/api/compare", methods=["GET", "POST"])
    async def compare(request: Request) -> JSONResponse:
        try:
            wanted = comparison.request(await request_parameters(request))
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        answer = await asyncio.wrap_future(batcher.submit(wanted))
        return JSONResponse(answer)

    @app.get("/api/batches")
    async def batches() -> JSONResponse:
        """How many batches of each size have been answered (the load benchmark reports them)."""
        return JSONResponse({str(size): count for size, count in sorted(batcher.batch_sizes.items())})

    return app
