"""Checking and showing a reference replayed kinematically on its robot.

  checks   joint limits, feet against the ground, root height, velocities,
           jumps, fps; a JSON-able report
  preview  matplotlib image strips and GIF/MP4 of body positions, Brax's
           HTML viewer
"""
