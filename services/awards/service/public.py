"""The public page of a year (awards approved and not revoked, exemplary models recognised) and
the Atom feed of the newest of them: read-only, no token, in Vietnamese, readable on a phone.

The page is per year, not per campaign: the awards service keeps no campaign (a nomination
and a model are of a year), and the campaigns of the movement do not overlap in years
(2017–2020, 2021–2025), so ``/public/{year}`` names one campaign's year and stays stable. Every
text is escaped (names may hold ``<`` or ``&``); nothing unapproved, revoked or unrecognised is
read from the database for it."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

import asyncpg

from chungtay_common import clock
from chungtay_common.contracts.awards import ExemplaryKind, NomineeKind
from chungtay_common.db import Conn
from services.awards.domain_exemplary import KIND_LABELS, printable
from services.awards.repository import exemplary as repository

MOVEMENT = "Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại phía sau"
PUBLISHER = "Ban Thi đua – Khen thưởng tỉnh"
FEED_ID = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'chungtay:awards:public-feed')}"
FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"
NOMINEE_LABELS = {NomineeKind.UNIT: "Tập thể", NomineeKind.PERSON: "Cá nhân",
                  NomineeKind.HOUSEHOLD: "Hộ gia đình"}


def award_anchor(nomination_id: uuid.UUID) -> str:
    return f"award-{nomination_id}"


def model_anchor(model_id: uuid.UUID) -> str:
    return f"model-{model_id}"


def text(value: object) -> str:
    """A value as HTML text: printable, every markup character escaped."""
    return escape(printable(str(value)), quote=True)


def vn_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class YearPage:
    year: int
    awards: list[asyncpg.Record]
    models: list[asyncpg.Record]
    replications: dict[uuid.UUID, list[asyncpg.Record]]
    linked: dict[uuid.UUID, list[asyncpg.Record]]
    units: dict[uuid.UUID, str]
    years: list[int]


async def year_page(conn: Conn, year: int) -> str:
    awards = await repository.public_awards(conn, year)
    models = await repository.recognised_models(conn, year)
    ids = [m["model_id"] for m in models]
    replications: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in await repository.replications(conn, ids):
        replications.setdefault(r["model_id"], []).append(r)
    linked: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for a in await repository.award_links(conn, ids, approved_only=True):
        linked.setdefault(a["model_id"], []).append(a)
    units = [a["nominee_unit"] for a in awards] + [m["unit_id"] for m in models] + [
        r["unit_id"] for rs in replications.values() for r in rs]
    names = await repository.unit_names(conn, list(set(units)), date(year, 12, 31))
    return render_year(YearPage(year, awards, models, replications, linked, names,
                                await repository.public_years(conn)))


async def index_page(conn: Conn) -> str:
    return render_index(await repository.public_years(conn))


async def feed(conn: Conn, base_url: str) -> str:
    awards = await repository.latest_awards(conn, FEED_ENTRIES)
    models = await repository.latest_models(conn, FEED_ENTRIES)
    units = [a["nominee_unit"] for a in awards] + [m["unit_id"] for m in models]
    names = await repository.unit_names(conn, list(set(units)), clock.today())
    return render_feed(awards, models, names, base_url.rstrip("/"))


# --------------------------------------------------------------------------- the page

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
margin:0 auto;max-width:48rem;padding:0 1rem 2rem;line-height:1.5;color:#1b1b1b}
header{border-bottom:3px solid #b71c1c;margin-bottom:1rem}
h1{font-size:1.4rem;margin:1rem 0 .25rem}h2{font-size:1.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin:0 0 .25rem}
article{border:1px solid #ddd;border-radius:.4rem;padding:.75rem;margin:.75rem 0}
article:target{border-color:#b71c1c;background:#fff8f6}
dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:.1rem .75rem}
dt{color:#555}dd{margin:0}a{color:#0d47a1}nav a{margin-right:.75rem}
.muted{color:#555;font-size:.9rem}
"""


def _head(title: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{text(title)}</title>\n"
        "<link rel=\"alternate\" type=\"application/atom+xml\" "
        "title=\"Khen thưởng và điển hình tiên tiến mới\" href=\"/public/feed.atom\">\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n")


def _foot() -> str:
    return (f"<footer><p class=\"muted\">{text(PUBLISHER)} · Phong trào thi đua "
            f"“{text(MOVEMENT)}” · <a href=\"/public/feed.atom\">Nguồn tin Atom</a></p>"
            "</footer>\n</body>\n</html>\n")


def render_index(years: Iterable[int]) -> str:
    items = "".join(f"<li><a href=\"/public/{y}\">Năm {y}</a></li>\n" for y in years)
    return (_head("Khen thưởng và điển hình tiên tiến")
            + f"<header><h1>Khen thưởng và điển hình tiên tiến</h1>\n"
              f"<p>Phong trào thi đua “{text(MOVEMENT)}”</p></header>\n<main>\n"
            + (f"<ul>\n{items}</ul>\n" if items
               else "<p>Chưa có khen thưởng hay điển hình nào được công bố.</p>\n")
            + "</main>\n" + _foot())


def render_year(p: YearPage) -> str:
    title = f"Khen thưởng và điển hình tiên tiến năm {p.year}"
    nav = ["<a href=\"/public\">Các năm</a>"]
    nav += [f"<a href=\"/public/{y}\" rel=\"{'prev' if y < p.year else 'next'}\">Năm {y}</a>"
            for y in (p.year - 1, p.year + 1) if y in p.years]
    out = [_head(title), f"<header><h1>{text(title)}</h1>\n",
           f"<p>Phong trào thi đua “{text(MOVEMENT)}”</p>\n",
           f"<nav>{' '.join(nav)} <a href=\"#khen-thuong\">Khen thưởng ({len(p.awards)})</a>"
           f" <a href=\"#dien-hinh\">Điển hình tiên tiến ({len(p.models)})</a></nav>"
           "</header>\n<main>\n",
           "<section id=\"khen-thuong\">\n<h2>Khen thưởng</h2>\n"]
    out += [_award(a, p.units) for a in p.awards] or [
        "<p>Chưa có khen thưởng nào được công bố trong năm.</p>\n"]
    out.append("</section>\n<section id=\"dien-hinh\">\n<h2>Điển hình tiên tiến</h2>\n")
    out += [_model(m, p.replications.get(m["model_id"], []), p.linked.get(m["model_id"], []),
                   p.units) for m in p.models] or [
        "<p>Chưa có điển hình nào được công nhận trong năm.</p>\n"]
    out.append("</section>\n</main>\n")
    out.append(_foot())
    return "".join(out)


def _unit(units: Mapping[uuid.UUID, str], unit_id: uuid.UUID) -> str:
    return text(units.get(unit_id, "—"))


def _award(a: asyncpg.Record, units: Mapping[uuid.UUID, str]) -> str:
    d = a["decision"]
    kind = NOMINEE_LABELS.get(NomineeKind(a["nominee_kind"]), "")
    return (
        f"<article id=\"{award_anchor(a['nomination_id'])}\">\n"
        f"<h3>{text(a['nominee_name'])}</h3>\n<dl>\n"
        f"<dt>Hình thức</dt><dd>{text(a['form_name'])}</dd>\n"
        f"<dt>Đối tượng</dt><dd>{text(kind)}</dd>\n"
        f"<dt>Đơn vị</dt><dd>{_unit(units, a['nominee_unit'])}</dd>\n"
        f"<dt>Quyết định</dt><dd>Số {text(d['number'])} ngày "
        f"{text(vn_date(date.fromisoformat(d['signed_on'])))}</dd>\n"
        f"<dt>Người ký</dt><dd>{text(d['signer'])}</dd>\n"
        f"</dl>\n<p class=\"muted\"><a href=\"#{award_anchor(a['nomination_id'])}\">"
        "Liên kết</a></p>\n</article>\n")


def _model(m: asyncpg.Record, replications: list[asyncpg.Record],
           linked: list[asyncpg.Record], units: Mapping[uuid.UUID, str]) -> str:
    out = [f"<article id=\"{model_anchor(m['model_id'])}\">\n",
           f"<h3>{text(m['name'])}</h3>\n",
           f"<p class=\"muted\">{text(KIND_LABELS[ExemplaryKind(m['kind'])])} · "
           f"{_unit(units, m['unit_id'])}</p>\n",
           "".join(f"<p>{text(para)}</p>\n" for para in m["description"].splitlines()
                   if para.strip()),
           "<dl>\n",
           f"<dt>Công nhận</dt><dd>{text(m['recognised_by'])}, quyết định số "
           f"{text(m['decision_number'])} ngày {text(vn_date(m['decided_on']))}</dd>\n",
           "</dl>\n"]
    if replications:
        out.append("<p>Nhân rộng tại:</p>\n<ul>\n")
        out += [f"<li>{_unit(units, r['unit_id'])} ({text(vn_date(r['replicated_on']))}): "
                f"{text(r['outcome'])}</li>\n" for r in replications]
        out.append("</ul>\n")
    if linked:
        out.append("<p>Khen thưởng liên quan:</p>\n<ul>\n")
        out += [f"<li><a href=\"/public/{a['year']}#{award_anchor(a['nomination_id'])}\">"
                f"{text(a['nominee_name'])} ({a['year']})</a></li>\n" for a in linked]
        out.append("</ul>\n")
    out.append("</article>\n")
    return "".join(out)


# --------------------------------------------------------------------------- the feed


def _at(moment: datetime) -> str:
    return moment.astimezone(clock.VN).isoformat(timespec="seconds")


def render_feed(awards: list[asyncpg.Record], models: list[asyncpg.Record],
                units: Mapping[uuid.UUID, str], base: str) -> str:
    """Atom 1.0 (RFC 4287): the newest approved awards and recognised models, newest first;
    each entry's id is its record's (stable), its link the anchor on the year's page."""
    entries: list[tuple[datetime, str, str, str, str]] = []
    for a in awards:
        d = a["decision"]
        entries.append((
            a["approved_at"], f"urn:uuid:{a['nomination_id']}",
            f"Khen thưởng: {a['form_name']} – {a['nominee_name']}",
            f"{base}/public/{a['year']}#{award_anchor(a['nomination_id'])}",
            f"{a['nominee_name']} ({units.get(a['nominee_unit'], '')}) được tặng "
            f"{a['form_name']} năm {a['year']}, quyết định số {d['number']} ngày "
            f"{vn_date(date.fromisoformat(d['signed_on']))}."))
    for m in models:
        entries.append((
            m["recognised_at"], f"urn:uuid:{m['model_id']}",
            f"Điển hình tiên tiến: {m['name']}",
            f"{base}/public/{m['year']}#{model_anchor(m['model_id'])}",
            f"{KIND_LABELS[ExemplaryKind(m['kind'])]} của {units.get(m['unit_id'], '')}, "
            f"công nhận theo quyết định số {m['decision_number']} ngày "
            f"{vn_date(m['decided_on'])}."))
    entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
    entries = entries[:FEED_ENTRIES]
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "vi"})

    def add(parent: ET.Element, tag: str, value: str | None = None,
            **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if value is not None:
            element.text = printable(value)
        return element

    add(root, "id", FEED_ID)
    add(root, "title", f"Khen thưởng và điển hình tiên tiến – {MOVEMENT}")
    add(root, "updated", _at(entries[0][0] if entries else clock.now()))
    add(add(root, "author"), "name", PUBLISHER)
    add(root, "link", rel="self", type="application/atom+xml", href=f"{base}/public/feed.atom")
    add(root, "link", rel="alternate", type="text/html", href=f"{base}/public")
    for moment, entry_id, title, link, summary in entries:
        entry = add(root, "entry")
        add(entry, "id", entry_id)
        add(entry, "title", title)
        add(entry, "updated", _at(moment))
        add(entry, "link", rel="alternate", type="text/html", href=link)
        add(entry, "summary", summary)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
