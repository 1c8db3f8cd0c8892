"""The movement's formulas (chungtay_common.poverty): a target is met only when every part of
it is known to hold."""

from __future__ import annotations

from chungtay_common.poverty import Target, derive

NOW = {"households_total": 1000, "poor_households": 20}  # 2.0 %
BEFORE = {"households_total": 1000, "poor_households": 45}  # 4.5 %: a reduction of 2.5 points


def test_an_unknown_reduction_leaves_the_target_unknown_even_below_the_national_average(
) -> None:
    target = Target(reduction_pp_min=2.0, at_most_national_average=True)
    d = derive(NOW, None, target, national_average=3.0)  # no earlier year: reduction unknown
    assert d.at_or_below_national_average is True
    assert d.reduction_pp is None and d.target_met is None


def test_an_unknown_national_average_leaves_the_target_unknown() -> None:
    target = Target(reduction_pp_min=2.0, at_most_national_average=True)
    assert derive(NOW, BEFORE, target, national_average=None).target_met is None


def test_a_part_not_met_is_not_met_whatever_is_unknown() -> None:
    target = Target(reduction_pp_min=3.0, at_most_national_average=True)
    assert derive(NOW, BEFORE, target, national_average=None).target_met is False
    assert derive(NOW, BEFORE, Target(reduction_pp_min=2.0, at_most_national_average=True),
                  national_average=1.5).target_met is False


def test_every_part_known_and_holding_is_met() -> None:
    target = Target(reduction_pp_min=2.5, at_most_national_average=True)
    d = derive(NOW, BEFORE, target, national_average=2.0)
    assert d.target_met is True and d.target_attainment_pct == 100.0


def test_a_target_with_no_part_the_system_checks_is_not_known() -> None:
    assert derive(NOW, BEFORE, Target(reduction_pp_min=None)).target_met is None
