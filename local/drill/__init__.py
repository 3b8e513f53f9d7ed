"""The failover drills, through OpenVidu: the emulated OpenVidu 2.x (`local.openvidu`) starts the
primary recorder exactly as OpenVidu does, a fault is injected, the detector's backup continues,
OpenVidu stops the recording (its `stopped` webhook ends the backup), and the one final file
is checked, with what OpenVidu concluded and what the customer's endpoint was told.

It starts its own local stack (`python -m local up`, moto included, its media node's `.env`,
a customer's endpoint on localhost), records from the synthetic source, and prints one JSON
line per run: {"ok", "openvidu_status", "customer_terminal", "gap_s", "detect_s", ...}.
Modes: `kill` (the whole recorder, the default), `ffmpeg` (only ffmpeg: the agent heals in
place), `hang` (ffmpeg SIGSTOPped), `zombie` (the recorder SIGSTOPped, replaced, SIGCONTed),
`none` (no fault: OpenVidu concludes `ready`), `backup-kill` (the recorder, then its backup: the
platform's stopped-task event takes over at once). Each takeover reports `launch_s` (its claim
to the new recorder's first heartbeat) and `standby` (a warm standby took it). With a real
browser (Chromium in Xvfb with PulseAudio, on a local page with a moving clock and a tone):
`browser` (the browser killed), `renderer` (the page's renderer killed), `freeze` (the page hangs).
A still or black span over 2 s in the final file counts as lost media, as a gap between recorders
does: `lost_s`.

The package, one job a module: `faults` (the registry of fault modes), `stack` (the drill's own
local stack), `probes` (what is read to judge a run), `media` (the checks on the final file),
`run` (one recording and one fault), `fleet` (several recorders on media nodes, a control-plane
fault), `runner` (`python -m local drill`) and `summary` (the line after several runs).
"""
