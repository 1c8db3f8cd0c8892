"""The public page of a year and the Atom feed, through HTTP without a token: what they show
(approved awards, recognised models, escaped), what they never show (drafts, rejected or
revoked awards, unrecognised proposals), the page validated by the W3C Nu Html Checker (vnu,
from Maven Central: ``deploy/local/vnu/pom.xml``) and the feed parsed as Atom 1.0."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chungtay_common.settings import REPO_ROOT
from tests.awards.conftest import DECISION, YEAR, Flow, Tokens, World
from tests.support import ok

LDTT = "lao_dong_tien_tien"
ATOM = "{http://www.w3.org/2005/Atom}"
VNU_POM = REPO_ROOT / "deploy" / "local" / "vnu" / "pom.xml"
VNU_LIBS = REPO_ROOT / ".local" / "vnu" / "libs"


@pytest.fixture(scope="session")
def vnu() -> str:
    """The checker's class path: its jars, fetched once from Maven Central (as the local
    stack fetches Kafka's)."""
    if not any(VNU_LIBS.glob("validator-*.jar")):
        mvn = shutil.which("mvn")
        assert mvn, "mvn is needed to fetch the Nu Html Checker (apt-get install maven)"
        subprocess.run([mvn, "-q", "-B", "-f", str(VNU_POM), "dependency:copy-dependencies",
                        "-DincludeScope=runtime", f"-DoutputDirectory={VNU_LIBS}"],
                       check=True, timeout=600)
    assert shutil.which("java"), "java is needed to run the Nu Html Checker"
    return f"{VNU_LIBS}/*"


async def validate(classpath: str, html: str) -> list[dict[str, Any]]:
    """The checker's messages (errors and warnings) about ``html``."""
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "page.html"
        page.write_text(html, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            "java", "-cp", classpath, "nu.validator.client.SimpleCommandLineValidator",
            "--format", "json", "--also-check-css", str(page),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
    report = json.loads((err or out).decode())
    messages: list[dict[str, Any]] = report["messages"]
    return messages


async def approved(flow: Flow, tokens: Tokens, world: World, name: str) -> dict[str, Any]:
    n = await flow.nominate(LDTT, {**flow.person(), "name": name})
    n = await flow.to(n, "appraised")
    result: dict[str, Any] = await flow.take(n, "approve", tokens.chairman(world.district_a),
                                             DECISION)
    return result


async def model(awards: httpx.AsyncClient, tokens: Tokens, world: World, name: str, *,
                recognise: bool) -> dict[str, Any]:
    body = {"name": name, "unit_id": str(world.commune), "kind": "livelihood_model",
            "description": "Nuôi bò sinh sản.\nHai mươi hộ thoát nghèo <năm 2024> & hơn.",
            "year": YEAR}
    m: dict[str, Any] = ok(await awards.post("/v1/exemplary-models", json=body,
                                             headers=tokens.reporter(world.commune)), 201)
    if recognise:
        m = ok(await awards.post(
            f"/v1/exemplary-models/{m['model_id']}/recognise", headers=tokens.board,
            json={"recognised_by": "Chủ tịch UBND tỉnh", "decision_number": "88/QĐ-UBND",
                  "decided_on": "2025-04-02"}))
    return m


@pytest.fixture(scope="module")
async def published(awards: httpx.AsyncClient, flow: Flow, tokens: Tokens,
                    world: World) -> dict[str, Any]:
    """An approved award and a recognised model whose names hold markup, linked; an award
    approved then revoked, a draft, a rejected one and an unrecognised proposal."""
    tag = uuid.uuid4().hex[:6]
    award = await approved(flow, tokens, world, f"Nguyễn <b>Văn</b> & \"Tâm\" {tag}")
    revoked = await approved(flow, tokens, world, f"Lê Thu Hồi {tag}")
    await flow.take(revoked, "revoke", tokens.chairman(world.district_a),
                    {"reason": "Khai man", "decision": {**DECISION, "number": "9/QĐ-HUY"}})
    draft = await flow.nominate(LDTT, {**flow.person(), "name": f"Phạm Dự Thảo {tag}"})
    rejected = await flow.nominate(LDTT, {**flow.person(), "name": f"Đỗ Bị Loại {tag}"})
    await flow.take(await flow.submit(rejected), "reject", tokens.council, {"reason": "Không đạt"})
    shown = await model(awards, tokens, world, f"<script>alert('x')</script> Mô hình bò {tag}",
                        recognise=True)
    ok(await awards.post(f"/v1/exemplary-models/{shown['model_id']}/awards",
                         headers=tokens.reporter(world.commune),
                         json={"nomination_id": award["nomination_id"]}))
    ok(await awards.post(f"/v1/exemplary-models/{shown['model_id']}/replications",
                         headers=tokens.reporter(world.short),
                         json={"unit_id": str(world.short), "replicated_on": "2025-05-01",
                               "outcome": "Mười hộ áp dụng & năm hộ thoát nghèo"}))
    hidden = await model(awards, tokens, world, f"Đề xuất chưa công nhận {tag}",
                         recognise=False)
    return {"tag": tag, "award": award, "revoked": revoked, "draft": draft,
            "rejected": rejected, "model": shown, "hidden": hidden}


async def test_the_year_page_shows_approved_awards_and_recognised_models_escaped(
        awards: httpx.AsyncClient, published: dict[str, Any], vnu: str) -> None:
    r = await awards.get(f"/public/{YEAR}")  # no token
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    page, tag = r.text, published["tag"]
    award, shown = published["award"], published["model"]
    # escaped, never markup
    assert f"Nguyễn &lt;b&gt;Văn&lt;/b&gt; &amp; &quot;Tâm&quot; {tag}" in page
    assert f"&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Mô hình bò {tag}" in page
    assert "<script" not in page and "<b>" not in page
    # linkable: an anchor per award and model, the feed announced
    assert f'id="award-{award["nomination_id"]}"' in page
    assert f'id="model-{shown["model_id"]}"' in page
    assert f'href="/public/{YEAR}#award-{award["nomination_id"]}"' in page
    assert 'type="application/atom+xml"' in page and 'href="/public/feed.atom"' in page
    # what the public reads of them, in Vietnamese
    assert '<html lang="vi">' in page and 'name="viewport"' in page
    assert "Lao động tiên tiến" in page
    assert f"Số {DECISION['number']} ngày 20/01/2025" in page
    assert "88/QĐ-UBND" in page and "02/04/2025" in page and "Mô hình sinh kế" in page
    assert "Mười hộ áp dụng &amp; năm hộ thoát nghèo" in page and "01/05/2025" in page
    assert "Hai mươi hộ thoát nghèo &lt;năm 2024&gt; &amp; hơn." in page
    # never anything not approved, revoked, or unrecognised
    for hidden in ("Lê Thu Hồi", "Phạm Dự Thảo", "Đỗ Bị Loại", "Đề xuất chưa công nhận"):
        assert f"{hidden} {tag}" not in page
    assert "9/QĐ-HUY" not in page
    assert "<script" not in page and "javascript" not in page.lower()
    messages = await validate(vnu, page)
    assert messages == [], messages
    index = await awards.get("/public")
    assert index.status_code == 200 and f'href="/public/{YEAR}"' in index.text
    assert await validate(vnu, index.text) == []


async def test_an_empty_year_is_a_valid_page(awards: httpx.AsyncClient, vnu: str) -> None:
    r = await awards.get("/public/1999")
    assert r.status_code == 200
    assert "Chưa có khen thưởng nào" in r.text and "Chưa có điển hình nào" in r.text
    assert await validate(vnu, r.text) == []
    assert (await awards.get("/public/1800")).status_code == 422


async def test_the_feed_is_atom_with_the_newest_awards_and_models(
        awards: httpx.AsyncClient, published: dict[str, Any]) -> None:
    r = await awards.get("/public/feed.atom")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    # no public address configured: the links come from the request, so no cache keeps them
    assert r.headers["cache-control"] == "no-cache"
    feed = ET.fromstring(r.content)
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert (feed.findtext(f"{ATOM}{required}") or "").strip(), required
    assert feed.findtext(f"{ATOM}author/{ATOM}name")
    assert {link.get("rel") for link in feed.findall(f"{ATOM}link")} == {"self", "alternate"}
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated") or "")
    entries = {e.findtext(f"{ATOM}id"): e for e in feed.findall(f"{ATOM}entry")}
    for e in entries.values():
        assert e.findtext(f"{ATOM}title") and e.findtext(f"{ATOM}updated")
        datetime.fromisoformat(e.findtext(f"{ATOM}updated") or "")
        links = e.findall(f"{ATOM}link")
        assert links and all((link.get("href") or "").startswith("http://") for link in links)
    award, shown = published["award"], published["model"]
    entry = entries[f"urn:uuid:{award['nomination_id']}"]
    assert entry.findtext(f"{ATOM}title", "").endswith(
        f"Nguyễn <b>Văn</b> & \"Tâm\" {published['tag']}")  # text, escaped by the XML
    link = entry.find(f"{ATOM}link")
    assert link is not None and (link.get("href") or "").endswith(
        f"/public/{YEAR}#award-{award['nomination_id']}")
    assert f"urn:uuid:{shown['model_id']}" in entries
    for never in ("revoked", "draft", "rejected"):
        assert f"urn:uuid:{published[never]['nomination_id']}" not in entries
    assert f"urn:uuid:{published['hidden']['model_id']}" not in entries
    assert b"<script" not in r.content
