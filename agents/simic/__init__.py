"""Simic: learned Tamiyo. Collect labelled demonstrations, clone the heuristic, then improve with PPO.

    esper collect --env Esper-Fast-v0 --episodes 200 --out runs/demos.npz     # heuristic + exploration
    esper bc --data runs/demos.npz --out runs/bc.zip                          # behaviour cloning
    esper ppo --init runs/bc.zip --timesteps 2400 --out runs/ppo              # MaskablePPO fine-tuning
    esper compare --env Esper-Fast-v0 --agents no-growth heuristic policy:runs/bc.zip policy:runs/ppo/final.zip

Seeds (agents/seeds.py): evaluation 0-899, validation 900-999; collection from 1000, PPO training from 2000.
"""

from .bc import Agreement, BCConfig, behaviour_clone
from .collect import CollectConfig, collect
from .dataset import DatasetError, Demonstrations, Episode, load
from .ppo import PPO_SEEDS_START, PPOConfig, train_ppo

__all__ = ["PPO_SEEDS_START", "Agreement", "BCConfig", "CollectConfig", "DatasetError",
           "Demonstrations", "Episode", "PPOConfig", "behaviour_clone", "collect", "load", "train_ppo"]
