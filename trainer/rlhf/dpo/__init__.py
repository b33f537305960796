"""DPO and its variants (IPO, cDPO, SimPO, ORPO): losses, pairs, the step, the stage."""
