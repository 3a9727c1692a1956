"""A step load's measurements fitted to models that predict past them, labelled as predictions.

    calibration = calibrate(load_run("runs/r1/peak"), scenario)
    calibration.usl.throughput(16_000)      # requests/s the Universal Scalability Law predicts
    calibration.knee                        # the predicted knee and its range (participants)
    calibration.backend_model(scenario)     # the simulator's backend_model, fitted per action
"""

from rehearse.calibration.fit import Calibration, CalibrationError, Knee, Prediction, calibrate
from rehearse.calibration.samples import ActionSample, StepSample, held_samples
from rehearse.calibration.usl import USL, fit_usl

__all__ = ["ActionSample", "Calibration", "CalibrationError", "Knee", "Prediction", "StepSample", "USL",
           "calibrate", "fit_usl", "held_samples"]
