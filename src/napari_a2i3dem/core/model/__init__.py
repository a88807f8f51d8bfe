"""The A2I-3DEM network (U-shaped W-MSA + GLEN transformer), its loss and its model files."""

from .attention import WindowAttention, relative_position_index, set_attention_backend
from .config import PRESETS, NetworkConfig, preset
from .cost import estimate_flops, estimate_gflops, parameter_count
from .files import FORMAT_VERSION, LoadedModel, describe_model, load_model, save_model
from .glen import GLEN
from .loss import A2ILoss, FixedFeatureBank, projected_distribution_loss
from .network import A2I3DEMNet, ViTBlock, count_parameters, pad_to_multiple

__all__ = [
    "FORMAT_VERSION",
    "GLEN",
    "PRESETS",
    "A2I3DEMNet",
    "A2ILoss",
    "FixedFeatureBank",
    "LoadedModel",
    "NetworkConfig",
    "ViTBlock",
    "WindowAttention",
    "count_parameters",
    "describe_model",
    "estimate_flops",
    "estimate_gflops",
    "load_model",
    "pad_to_multiple",
    "parameter_count",
    "preset",
    "projected_distribution_loss",
    "relative_position_index",
    "save_model",
    "set_attention_backend",
]
