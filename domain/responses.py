"""JSON schemas of every response body: the OpenAPI components and the test oracle.

The service's Swagger document embeds these, and the HTTP tests validate real
responses against them, so the documentation cannot drift from behaviour.
"""

from __future__ import annotations

from domain.errors import ERROR_CODES
from domain.flood import SEVERITIES, TRENDS
from domain.site import LATITUDE_RANGE, LONGITUDE_RANGE, SITE_ID_PATTERN

DATE = {"type": "string", "format": "date", "example": "2024-12-31"}
THRESHOLD_FLOWS = {
    "type": "object",
    "nullable": True,
    "additionalProperties": {"type": "number", "minimum": 0},
    "description": "Return period in years -> daily mean flow, m3/s; null when the record is too short",
    "example": {"2": 41.2, "5": 63.0, "10": 77.4},
}
FLOOD_THRESHOLDS_SCHEMA = {
    "type": "object",
    "required": ["method", "years", "flows", "reason"],
    "properties": {
        "method": {"type": "string", "description": "How the thresholds were fitted"},
        "years": {"type": "integer", "minimum": 0, "description": "Annual maxima of the training period used"},
        "flows": THRESHOLD_FLOWS,
        "reason": {"type": "string", "nullable": True, "description": "Why flows is null"},
    },
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable machine-readable code",
                    "enum": [entry.code for entry in ERROR_CODES],
                },
                "message": {"type": "string", "description": "What went wrong, naming the parameter or source"},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}

REGISTRY_VERSION = {
    "type": "string",
    "nullable": True,
    "description": "Version of the model in the registry; null when served without one",
}
HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "model_version", "registry_version", "refused", "registry_problem"],
    "properties": {
        "status": {"type": "string", "enum": ["ok"]},
        "model_version": {"type": "string", "description": "Version id of the bundle being served"},
        "registry_version": REGISTRY_VERSION,
        "refused": {
            "type": "object",
            "nullable": True,
            "description": "The last registry version not served (it failed to load or to forecast), and why",
            "required": ["registry_version", "reason"],
            "properties": {"registry_version": {"type": "string"}, "reason": {"type": "string"}},
        },
        "registry_problem": {
            "type": "string",
            "nullable": True,
            "description": "Why the registry cannot be followed now (the model keeps serving); null when it can",
        },
    },
}

SITE_SCHEMA = {
    "type": "object",
    "required": [
        "site_id",
        "name",
        "latitude",
        "longitude",
        "area_km2",
        "data_period",
        "test_nse",
        "live_nse",
        "flood_thresholds",
    ],
    "properties": {
        "flood_thresholds": {
            **FLOOD_THRESHOLDS_SCHEMA,
            "description": "The 2-, 5- and 10-year daily flows from the training period's annual maxima",
        },
        "site_id": {"type": "string", "pattern": f"^{SITE_ID_PATTERN}$", "example": "01646500"},
        "name": {"type": "string"},
        "latitude": {"type": "number", "minimum": LATITUDE_RANGE[0], "maximum": LATITUDE_RANGE[1]},
        "longitude": {"type": "number", "minimum": LONGITUDE_RANGE[0], "maximum": LONGITUDE_RANGE[1]},
        "area_km2": {"type": "number", "exclusiveMinimum": 0, "description": "Drainage area, km2"},
        "test_nse": {
            "type": "object",
            "additionalProperties": {"type": "number", "nullable": True},
            "description": "NSE per lead day on the model's test period (from its bundle)",
        },
        "live_nse": {
            "type": "object",
            "nullable": True,
            "additionalProperties": {"type": "number", "nullable": True},
            "description": "NSE per lead day of the issued forecasts in the rolling window (see /verification); "
            "null before the first verification",
        },
        "data_period": {
            "type": "object",
            "description": "First and last day of observed flow when the model was trained",
            "required": ["start", "end"],
            "properties": {
                "start": {**DATE, "nullable": True},
                "end": {**DATE, "nullable": True},
            },
        },
    },
}

INFO_SCHEMA = {
    "type": "object",
    "required": ["model_version", "synthetic_data", "sites"],
    "properties": {
        "model_version": {"type": "string", "description": "Version id of the model serving these sites"},
        "synthetic_data": {
            "type": "boolean",
            "description": "True when the sites are the generated synthetic demo dataset, not real rivers",
        },
        "sites": {"type": "array", "items": {"$ref": "#/components/schemas/Site"}},
    },
}

FORECAST_SCHEMA = {
    "type": "object",
    "required": [
        "forecast_id",
        "site_id",
        "issue_date",
        "unit",
        "model_version",
        "registry_version",
        "hindcast",
        "stale",
        "stale_age_s",
        "severity",
        "trend",
        "thresholds",
        "forecast",
    ],
    "properties": {
        "forecast_id": {
            "type": "string",
            "description": "Id of the forecast in the archive (the same forecast always has the same id); feedback names it",
        },
        "site_id": {"type": "string"},
        "issue_date": {**DATE, "description": "Last day of observed flow the forecast starts from"},
        "unit": {"type": "string", "enum": ["m3/s"]},
        "model_version": {"type": "string", "description": "Version id of the bundle that made it"},
        "registry_version": REGISTRY_VERSION,
        "hindcast": {"type": "boolean", "description": "True when issued for a past issue_date on request"},
        "stale": {
            "type": "boolean",
            "description": "True when an upstream failed and cached data past its expiry were used instead",
        },
        "stale_age_s": {
            "type": "integer",
            "nullable": True,
            "minimum": 0,
            "description": "Age in seconds of the oldest stale cached input; null when stale is false",
        },
        "severity": {
            "type": "string",
            "enum": list(SEVERITIES),
            "description": "The highest flood threshold some forecast day exceeds with probability >= 0.5; "
            "none: no threshold; unknown: the site has no thresholds",
        },
        "trend": {
            "type": "string",
            "enum": list(TRENDS),
            "description": "The last forecast day's median against the flow observed on the issue day "
            "(within 10 %: steady)",
        },
        "thresholds": THRESHOLD_FLOWS,
        "forecast": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["lead_days", "date", "flow", "quantiles", "exceedance"],
                "properties": {
                    "lead_days": {"type": "integer", "minimum": 1},
                    "date": DATE,
                    "flow": {
                        "type": "number",
                        "minimum": 0,
                        "description": "Daily mean discharge, m3/s: the point forecast (the ensemble mean)",
                    },
                    "quantiles": {
                        "type": "object",
                        "additionalProperties": {"type": "number", "minimum": 0},
                        "description": "Level -> flow quantile, m3/s (non-decreasing with the level)",
                        "example": {"0.05": 3.1, "0.5": 4.2, "0.95": 6.8},
                    },
                    "exceedance": {
                        "type": "object",
                        "nullable": True,
                        "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                        "description": "Return period in years -> probability of exceeding that flood threshold; "
                        "null when the site has no thresholds",
                    },
                    "observed": {
                        "type": "number",
                        "nullable": True,
                        "description": "Observed daily mean discharge (hindcasts only), m3/s",
                    },
                },
            },
        },
    },
}

OBSERVATIONS_SCHEMA = {
    "type": "object",
    "required": ["site_id", "unit", "observations"],
    "properties": {
        "site_id": {"type": "string"},
        "unit": {"type": "string", "enum": ["m3/s"]},
        "observations": {
            "type": "array",
            "description": "One entry per day of start..end",
            "items": {
                "type": "object",
                "required": ["date", "flow"],
                "properties": {
                    "date": DATE,
                    "flow": {
                        "type": "number",
                        "nullable": True,
                        "minimum": 0,
                        "description": "Observed daily mean discharge, m3/s; null when not observed",
                    },
                },
            },
        },
    },
}

RETRAIN_JOB_SCHEMA = {
    "type": "object",
    "required": ["job_id", "state", "started", "finished", "exit_code", "log_tail", "report"],
    "properties": {
        "job_id": {"type": "string"},
        "state": {
            "type": "string",
            "enum": ["running", "succeeded", "refused", "failed", "lost"],
            "description": "succeeded: trained and live; refused: trained, the gate kept the live model; "
            "lost: the service stopped while it ran",
        },
        "started": {"type": "string", "format": "date-time"},
        "finished": {"type": "string", "format": "date-time", "nullable": True},
        "exit_code": {"type": "integer", "nullable": True, "description": "main_train.py's exit code"},
        "log_tail": {"type": "string", "description": "The last lines of the training's output"},
        "report": {
            "type": "object",
            "nullable": True,
            "description": "The training's outcome: bundle, MLflow run, registry version, promoted, gate table",
        },
    },
}

ARCHIVED_FORECAST_SCHEMA = {
    "type": "object",
    "required": ["forecast_id", "site_id", "issue_date", "model_version", "issued_at", "hindcast", "flows"],
    "properties": {
        "forecast_id": {"type": "string"},
        "site_id": {"type": "string"},
        "issue_date": DATE,
        "model_version": {"type": "string"},
        "registry_version": {"type": "string", "nullable": True},
        "inputs_fingerprint": {"type": "string", "description": "SHA-256 of the model's input window"},
        "hindcast": {"type": "boolean"},
        "issued_at": {"type": "string", "format": "date-time", "description": "When it was first issued (UTC)"},
        "stale_age_s": {"type": "number", "nullable": True},
        "drift": {
            "type": "number",
            "nullable": True,
            "description": "Share of its inputs outside the site's training range",
        },
        "filled_gaps": {"type": "integer", "description": "Missing input values the model saw masked or filled"},
        "flows": {"type": "array", "items": {"type": "number", "minimum": 0}, "description": "m3/s per lead day"},
        "quantiles": {
            "type": "object",
            "nullable": True,
            "additionalProperties": {"type": "array", "items": {"type": "number", "minimum": 0}},
            "description": "Level -> flow quantile per lead day, m3/s; null for forecasts of earlier versions",
        },
        "exceedance": {
            "type": "object",
            "nullable": True,
            "additionalProperties": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
            "description": "Return period -> probability per lead day of exceeding the threshold; null: none",
        },
    },
}
FORECAST_LIST_SCHEMA = {
    "type": "object",
    "required": ["forecasts", "next_cursor"],
    "properties": {
        "forecasts": {"type": "array", "items": {"$ref": "#/components/schemas/ArchivedForecast"}},
        "next_cursor": {
            "type": "string",
            "nullable": True,
            "description": "Pass it as cursor for the next page; null on the last page",
        },
    },
}

SCORES = {"type": "number", "nullable": True}
LEAD_SCORES_SCHEMA = {
    "type": "object",
    "required": ["lead_days", "pairs", "nse", "kge", "mae", "bias"],
    "properties": {
        "lead_days": {"type": "integer", "minimum": 1},
        "pairs": {"type": "integer", "minimum": 0, "description": "Forecast-observation pairs scored"},
        "nse": SCORES,
        "kge": SCORES,
        "mae": {**SCORES, "description": "Mean absolute error, m3/s"},
        "bias": {**SCORES, "description": "Mean error (forecast minus observed), m3/s"},
        "persistence_nse": SCORES,
        "persistence_kge": SCORES,
        "persistence_mae": SCORES,
        "persistence_bias": SCORES,
        "coverage_90": {
            **SCORES,
            "description": "Share of observations inside the forecasts' 90 % interval (q0.05..q0.95)",
        },
        "exceedances": {
            "type": "object",
            "nullable": True,
            "description": "Return period in years -> counts of flood-threshold warnings (probability >= 0.5) "
            "against what the river did; null when the site has no thresholds",
            "additionalProperties": {
                "type": "object",
                "required": ["hits", "misses", "false_alarms", "correct_negatives"],
                "properties": {
                    name: {"type": "integer", "minimum": 0}
                    for name in ("hits", "misses", "false_alarms", "correct_negatives")
                },
            },
        },
    },
    "description": "Scores are null with fewer pairs than verification.min_pairs",
}
VERIFICATION_SCHEMA = {
    "type": "object",
    "required": ["site_id", "model_version", "window", "rolling", "since_live", "flagged", "mean_drift", "feedback"],
    "properties": {
        "site_id": {"type": "string"},
        "model_version": {"type": "string", "description": "The bundle served; since_live scores its forecasts"},
        "window": {
            "type": "object",
            "properties": {"first_issue": DATE, "last_issue": DATE},
            "description": "Issue days of the rolling window",
        },
        "rolling": {"type": "array", "items": LEAD_SCORES_SCHEMA},
        "since_live": {"type": "array", "items": LEAD_SCORES_SCHEMA},
        "flagged": {"type": "boolean", "description": "Lead-1 NSE over the window below persistence's"},
        "mean_drift": {**SCORES, "description": "Mean share of inputs outside the training range"},
        "feedback": {"type": "integer", "description": "Feedback received for the site"},
    },
}
FEEDBACK_RECEIPT_SCHEMA = {
    "type": "object",
    "required": ["feedback_id", "forecast_id"],
    "properties": {"feedback_id": {"type": "integer"}, "forecast_id": {"type": "string"}},
}
FEEDBACK_LIST_SCHEMA = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["feedback_id", "forecast_id", "site_id", "rating", "comment", "created_at"],
                "properties": {
                    "feedback_id": {"type": "integer"},
                    "forecast_id": {"type": "string"},
                    "site_id": {"type": "string"},
                    "rating": {"type": "integer"},
                    "comment": {"type": "string", "description": "As the user wrote it: plain text, never markup"},
                    "observed_flow": SCORES,
                    "observed_at": {"type": "string", "format": "date-time", "nullable": True},
                    "client": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
        }
    },
}

COMPONENT_SCHEMAS = {
    "Error": ERROR_SCHEMA,
    "Health": HEALTH_SCHEMA,
    "Site": SITE_SCHEMA,
    "Info": INFO_SCHEMA,
    "Forecast": FORECAST_SCHEMA,
    "Observations": OBSERVATIONS_SCHEMA,
    "RetrainJob": RETRAIN_JOB_SCHEMA,
    "ArchivedForecast": ARCHIVED_FORECAST_SCHEMA,
    "ForecastList": FORECAST_LIST_SCHEMA,
    "Verification": VERIFICATION_SCHEMA,
    "FeedbackReceipt": FEEDBACK_RECEIPT_SCHEMA,
    "FeedbackList": FEEDBACK_LIST_SCHEMA,
}
