"""Use cases of services/indicators/import_service.py on the real PostgreSQL, each test inside
a transaction rolled back at its end: what a file's rows become, and how a refusal of one
report or target is put on the rows it is about."""

from __future__ import annotations

import unicodedata
import uuid

import asyncpg
import pytest

from chungtay_common.auth import Role
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import InvalidInput
from chungtay_common.http import CSV_TYPE
from services.indicators import import_service, imports, service
from services.indicators.schemas import CampaignIn, DataMigrationIn
from tests.conftest import next_code
from tests.indicators.conftest import hold_unit
from tests.support import context

Conn = asyncpg.Connection
ADMIN = context(Role.ADMIN, sub="admin")
TARGETS = ("district_code,district_name,reduction_pp_min,reduction_pp_max,households_out_min,"
           "households_out_max\n")


def rows(*lines: str) -> list[imports.ImportRow]:
    body = "Năm,Mã đơn vị,Mã chỉ tiêu,Giá trị,Ngày nộp\n" + "".join(f"{x}\n" for x in lines)
    return imports.parse(body.encode(), CSV_TYPE, max_bytes=10_000, max_rows=100)


async def new_campaign(conn: Conn) -> uuid.UUID:
    return (await service.create_campaign(conn, ADMIN, CampaignIn(
        code=f"c-{next_code()}", name="Thử", first_year=2017, last_year=2018))).campaign_id


async def test_a_targets_row_whose_maximum_is_below_its_minimum_is_named(conn: Conn) -> None:
    campaign, code = await new_campaign(conn), next_code()
    province = await hold_unit(conn, UnitKind.PROVINCE, "Tỉnh", None)
    await hold_unit(conn, UnitKind.DISTRICT, "Huyện", province, code=code)
    with pytest.raises(InvalidInput) as refused:
        await import_service.import_targets(conn, ADMIN, campaign, 2017,
                                            TARGETS + f'{code},Huyện,"1,5","2,0",900,800\n', None)
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("row 2: households_out_max", "must not be below households_out_min")]
    assert refused.value.detail == (
        "row 2: households_out_max: must not be below households_out_min")


async def test_the_rows_of_one_report_have_one_submission_time(conn: Conn) -> None:
    campaign, code = await new_campaign(conn), next_code()
    province = await hold_unit(conn, UnitKind.PROVINCE, "Tỉnh", None)
    await hold_unit(conn, UnitKind.COMMUNE, "Xã", province, code=code)
    file = rows(f"2017,{code},poor_households,1,2017-11-10",
                f"2017,{code},households_total,10,2017-11-12")
    migration = await service.open_data_migration(conn, ADMIN, DataMigrationIn(
        reference="CĐDL-2017", reason="sổ theo dõi báo cáo năm 2017"))
    with pytest.raises(InvalidInput) as refused:
        await import_service.import_reports(conn, ADMIN, campaign, file, submit=True,
                                            migration_id=migration.migration_id)
    assert [e.field for e in refused.value.errors] == [
        "sheet csv row 2: Ngày nộp", "sheet csv row 3: Ngày nộp"]
    assert "a report is submitted once" in refused.value.errors[0].message


TARGETS_VI = ("Mã đơn vị,Tên đơn vị,Mức giảm tỷ lệ hộ nghèo tối thiểu (điểm %),"
              "Mức giảm tỷ lệ hộ nghèo tối đa (điểm %),Số hộ thoát nghèo tối thiểu,"
              "Số hộ thoát nghèo tối đa\n")


async def test_targets_are_read_with_vietnamese_headers_and_numbers(conn: Conn) -> None:
    campaign, code = await new_campaign(conn), next_code()
    province = await hold_unit(conn, UnitKind.PROVINCE, "Tỉnh", None)
    await hold_unit(conn, UnitKind.DISTRICT, "Huyện", province, code=code)
    # typed with a "Unicode tổ hợp" keyboard: decomposed accents
    header = unicodedata.normalize("NFD", TARGETS_VI)
    done = await import_service.import_targets(
        conn, ADMIN, campaign, 2017, header + f'{code},Huyện,"6,5","7,2",1.070,"1.190"\n', None)
    assert [(t.reduction_pp_min, t.reduction_pp_max, t.households_out_min,
             t.households_out_max) for t in done] == [(6.5, 7.2, 1070, 1190)]
    # a cell that does not fit the file's convention is named by its header in the file
    with pytest.raises(InvalidInput) as refused:
        await import_service.import_targets(conn, ADMIN, campaign, 2017,
                                            TARGETS_VI + f"{code},Huyện,6.5,7,840,930\n", None)
    assert [e.field for e in refused.value.errors] == [
        "row 2: Mức giảm tỷ lệ hộ nghèo tối thiểu (điểm %)"]
    # the English headers and numbers of the 2017 file, when declared
    done = await import_service.import_targets(
        conn, ADMIN, campaign, 2017, TARGETS + f'{code},Huyện,6.5,7.2,"1,070",1190\n', None,
        imports.NumberFormat.EN)
    assert done[0].households_out_min == 1070 and done[0].reduction_pp_min == 6.5
