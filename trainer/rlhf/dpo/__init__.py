"""Direct preference optimisation and its variants (IPO, cDPO, SimPO, ORPO): losses, the step, the stage."""
