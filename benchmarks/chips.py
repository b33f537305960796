"""The accelerator table lives with the product (hardware/chips.py); benchmarks read it here."""
from hardware.chips import CHIPS, GIB, Chip, chip  # pylint: disable=unused-import
