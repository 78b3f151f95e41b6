"""Coverage planning: lawnmower grids over concave zones with holes, ordering, terrain, sorties."""

from dronectl.survey.planner import SurveyParams, SurveyPlan, plan_survey

__all__ = ["SurveyParams", "SurveyPlan", "plan_survey"]
