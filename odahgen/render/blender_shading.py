"""Materials, world and camera response of the Blender worker (a sibling module it imports; like
the worker it imports only bpy and the standard library, never odahgen).

Material ``kind``\ s: ``fabric`` (sheen, bump from the weave image), ``leather`` (fine noise
bump), ``hair`` (strand streaks along the UV v direction), ``skin`` (subsurface scattering),
``eye`` (pupil, iris, sclera by the UV polar angle; a wet coat),
``wood`` / ``tiles`` / ``concrete`` / ``carpet`` (floors) and ``paint`` (walls): procedural node
trees in object coordinates (m), so their scale is real. World: a plain colour or one of the CC0
HDRIs Blender ships (``datafiles/studiolights/world/NAME.exr``).
"""

from __future__ import annotations

import os

import bpy

def make_material(name, spec, root):
    """A Principled material from a bundle material spec (linear RGB ``color``, ``roughness``,
    optional sRGB ``texture`` image, ``kind`` for the detail: see :func:`_shade`)."""
    mat = bpy.data.materials.new(name)
    color = list(spec.get("color", [0.8, 0.8, 0.8])) + [1.0]
    mat.diffuse_color = color if spec.get("kind") != "eye" else list(SCLERA[0]) + [1.0]  # Workbench's colour
    mat.roughness = float(spec.get("roughness", 0.5))
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = color
    bsdf.inputs["Roughness"].default_value = float(spec.get("roughness", 0.5))
    tex = None
    if spec.get("texture"):
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(os.path.join(root, spec["texture"]), check_existing=True)
        tex.interpolation = "Linear"
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    if spec.get("kind") in SURFACES:
        _surface(nodes, links, bsdf, spec)
    else:
        _shade(nodes, links, bsdf, spec, tex, color)
    return mat


def _set_input(node, names, value):
    """Set the first of ``names`` that ``node`` has (input names differ between Blender versions)."""
    for n in names:
        if n in node.inputs:
            node.inputs[n].default_value = value
            return True
    return False


def _shade(nodes, links, bsdf, spec, tex, color):
    """Material detail by ``spec["kind"]``: fabric (sheen, bump from the weave texture), leather
    (fine noise bump), hair (strand streaks along the UV v direction, colour and bump), skin
    (subsurface scattering, ``spec["subsurface"]`` weight)."""
    kind = spec.get("kind", "")
    bump_strength = float(spec.get("bump", 0.0))
    height = None
    if kind == "fabric":
        _set_input(bsdf, ("Sheen Weight", "Sheen"), 0.4)
        _set_input(bsdf, ("Sheen Roughness",), 0.5)
        if tex is not None:
            height = tex.outputs["Color"]
    elif kind in ("leather", "hair"):
        coord = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        noise = nodes.new("ShaderNodeTexNoise")
        links.new(coord.outputs["UV"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], noise.inputs["Vector"])
        if kind == "hair":  # streaks: fine across the strands (u), long along them (v)
            mapping.inputs["Scale"].default_value = (60.0, 2.0, 1.0)
            noise.inputs["Scale"].default_value = 40.0
            noise.inputs["Detail"].default_value = 4.0
            ramp = nodes.new("ShaderNodeMixRGB")
            ramp.blend_type = "MULTIPLY"
            ramp.inputs[0].default_value = 0.6
            ramp.inputs[1].default_value = color
            links.new(noise.outputs["Fac"], ramp.inputs[2])
            links.new(ramp.outputs[0], bsdf.inputs["Base Color"])
            _set_input(bsdf, ("Coat Weight",), 0.15)
            bump_strength = max(bump_strength, 0.4)
        else:
            noise.inputs["Scale"].default_value = 120.0
            noise.inputs["Detail"].default_value = 6.0
            bump_strength = max(bump_strength, 0.1)
        height = noise.outputs["Fac"]
    elif kind == "eye":
        _eye(nodes, links, bsdf, spec, color)
    elif kind == "skin" and float(spec.get("subsurface", 0.0)) > 0:
        _set_input(bsdf, ("Subsurface Weight", "Subsurface"), float(spec["subsurface"]))
        _set_input(bsdf, ("Subsurface Radius",), (1.0, 0.35, 0.2))
        _set_input(bsdf, ("Subsurface Scale",), 0.004)
    if height is not None and bump_strength > 0:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = bump_strength
        bump.inputs["Distance"].default_value = 0.002
        links.new(height, bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])




#: linear RGB of the sclera at the front and toward the back (pinker, veined)
SCLERA = ((0.78, 0.75, 0.70), (0.70, 0.52, 0.46))


def _eye(nodes, links, bsdf, spec, color):
    """An eyeball by its UV ``v`` (polar angle from the gaze / pi): pupil (black) to
    ``spec["pupil_v"]``, iris (``color``, lighter inside, radial streaks, a dark limbal ring) to
    ``spec["iris_v"]``, then sclera; a clear coat for the wet cornea's highlight."""
    pupil, iris = float(spec.get("pupil_v", 0.04)), float(spec.get("iris_v", 0.125))
    coord = nodes.new("ShaderNodeTexCoord")
    sep = nodes.new("ShaderNodeSeparateXYZ")
    links.new(coord.outputs["UV"], sep.inputs[0])
    ramp = nodes.new("ShaderNodeValToRGB")
    stops = ((0.0, (0.005, 0.005, 0.005)), (pupil - 0.004, (0.005, 0.005, 0.005)),
             (pupil + 0.004, [1.3 * c for c in color[:3]]), (iris - 0.015, [0.8 * c for c in color[:3]]),
             (iris - 0.003, [0.25 * c for c in color[:3]]), (iris + 0.012, SCLERA[0]), (1.0, SCLERA[1]))
    els = ramp.color_ramp.elements
    while len(els) < len(stops):
        els.new(0.5)
    for el, (pos, col) in zip(els, stops):
        el.position = max(0.0, min(1.0, pos))
        el.color = [min(1.0, c) for c in col] + [1.0]
    links.new(sep.outputs["Y"], ramp.inputs["Fac"])
    mapping = nodes.new("ShaderNodeMapping")  # streaks: fine around (u), long along the radius (v)
    mapping.inputs["Scale"].default_value = (60.0, 4.0, 1.0)
    links.new(coord.outputs["UV"], mapping.inputs["Vector"])
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = 3.0
    links.new(mapping.outputs["Vector"], noise.inputs["Vector"])
    in_iris = nodes.new("ShaderNodeMath")
    in_iris.operation = "LESS_THAN"
    in_iris.inputs[1].default_value = iris
    links.new(sep.outputs["Y"], in_iris.inputs[0])
    amount = nodes.new("ShaderNodeMath")
    amount.operation = "MULTIPLY"
    amount.inputs[1].default_value = 0.5
    links.new(in_iris.outputs[0], amount.inputs[0])
    streak = nodes.new("ShaderNodeMixRGB")
    streak.blend_type = "MULTIPLY"
    links.new(amount.outputs[0], streak.inputs[0])
    links.new(ramp.outputs["Color"], streak.inputs[1])
    links.new(noise.outputs["Color"], streak.inputs[2])
    links.new(streak.outputs[0], bsdf.inputs["Base Color"])
    _set_input(bsdf, ("Coat Weight",), 1.0)
    _set_input(bsdf, ("Coat Roughness",), 0.03)
    _set_input(bsdf, ("Coat IOR",), 1.376)  # the cornea


def _coords(nodes, links):
    """Object coordinates (m: room meshes are built in world coordinates with an identity transform)."""
    return nodes.new("ShaderNodeTexCoord").outputs["Object"]


def _mix(nodes, links, fac, a, b):
    node = nodes.new("ShaderNodeMixRGB")
    node.inputs[1].default_value = list(a) + [1.0]
    node.inputs[2].default_value = list(b) + [1.0]
    links.new(fac, node.inputs[0])
    return node.outputs[0]


def _surface(nodes, links, bsdf, spec):
    """Floors and walls: wood planks, tiles, concrete, carpet, paint (``spec["colors"]`` linear RGB,
    ``spec["scale_m"]`` plank / tile size)."""
    kind = spec["kind"]
    cols = spec.get("colors") or [spec.get("color", [0.5, 0.5, 0.5])] * 2
    c0, c1 = cols[0], cols[-1]
    size = float(spec.get("scale_m", 0.5))
    co = _coords(nodes, links)
    height = None
    if kind in ("wood", "tiles"):
        brick = nodes.new("ShaderNodeTexBrick")
        links.new(co, brick.inputs["Vector"])
        brick.inputs["Scale"].default_value = 1.0
        brick.inputs["Color1"].default_value = list(c0) + [1.0]
        brick.inputs["Color2"].default_value = list(c1) + [1.0]
        if kind == "wood":  # planks: long, narrow, staggered; grain from stretched noise
            brick.offset = 0.5
            brick.inputs["Brick Width"].default_value = size * 6
            brick.inputs["Row Height"].default_value = size
            brick.inputs["Mortar Size"].default_value = 0.002
            brick.inputs["Mortar"].default_value = [x * 0.4 for x in c0] + [1.0]
            mapping = nodes.new("ShaderNodeMapping")
            links.new(co, mapping.inputs["Vector"])
            mapping.inputs["Scale"].default_value = (1.0, 25.0, 1.0)
            grain = nodes.new("ShaderNodeTexNoise")
            links.new(mapping.outputs["Vector"], grain.inputs["Vector"])
            grain.inputs["Scale"].default_value = 6.0
            grain.inputs["Detail"].default_value = 8.0
            mul = nodes.new("ShaderNodeMixRGB")
            mul.blend_type = "MULTIPLY"
            mul.inputs[0].default_value = 0.35
            links.new(brick.outputs["Color"], mul.inputs[1])
            links.new(grain.outputs["Color"], mul.inputs[2])
            links.new(mul.outputs[0], bsdf.inputs["Base Color"])
            height = brick.outputs["Fac"]
        else:  # square tiles, light grout
            brick.offset = 0.0
            brick.inputs["Brick Width"].default_value = size
            brick.inputs["Row Height"].default_value = size
            brick.inputs["Mortar Size"].default_value = 0.004
            brick.inputs["Mortar"].default_value = [min(1.0, x * 0.8 + 0.15) for x in c0] + [1.0]
            brick.inputs["Bias"].default_value = -0.3
            links.new(brick.outputs["Color"], bsdf.inputs["Base Color"])
            height = brick.outputs["Fac"]
    elif kind in ("concrete", "carpet", "paint"):
        noise = nodes.new("ShaderNodeTexNoise")
        links.new(co, noise.inputs["Vector"])
        noise.inputs["Scale"].default_value = {"concrete": 2.5, "carpet": 300.0, "paint": 40.0}[kind]
        noise.inputs["Detail"].default_value = 10.0
        fine = nodes.new("ShaderNodeTexNoise")
        links.new(co, fine.inputs["Vector"])
        fine.inputs["Scale"].default_value = {"concrete": 60.0, "carpet": 900.0, "paint": 400.0}[kind]
        links.new(_mix(nodes, links, noise.outputs["Fac"], c0, c1), bsdf.inputs["Base Color"])
        height = fine.outputs["Fac"]
    if height is not None:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = {"wood": 0.3, "tiles": 0.5, "concrete": 0.25,
                                                 "carpet": 0.6, "paint": 0.04}.get(kind, 0.2)
        bump.inputs["Distance"].default_value = 0.003
        links.new(height, bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])


SURFACES = ("wood", "tiles", "concrete", "carpet", "paint")


def hdri_path(name):
    """The path of Blender's CC0 studio-light HDRI ``name`` (city, courtyard, forest, interior,
    night, studio, sunrise, sunset), or None where this Blender has none."""
    folder = bpy.utils.system_resource("DATAFILES", path=os.path.join("studiolights", "world"))
    path = os.path.join(folder or "", f"{name}.exr")
    return path if folder and os.path.exists(path) else None


def make_world(spec, color):
    """The world: ``spec = {"hdri": name, "rotation_deg", "strength"}`` lights the scene with one
    of Blender's HDRIs (and is the background where no wall hides it); else the plain ``color``."""
    import math

    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    world.color = color
    nodes, links = world.node_tree.nodes, world.node_tree.links
    bg = nodes.get("Background")
    bg.inputs["Color"].default_value = list(color) + [1.0]
    path = hdri_path(spec["hdri"]) if spec.get("hdri") else None
    if path:
        env = nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(path, check_existing=True)
        mapping = nodes.new("ShaderNodeMapping")
        coord = nodes.new("ShaderNodeTexCoord")
        links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(float(spec.get("rotation_deg", 0.0))))
        links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        links.new(env.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = float(spec.get("strength", 1.0))
    return world


def apply_camera_response(scene, spec):
    """Photographic response: the view transform (``AgX`` where this Blender has it, else
    ``Filmic``, else ``Standard``), ``exposure_ev`` and a white balance (``white_balance_k``,
    Blender >= 4.3; the colour the camera treats as white). Empty ``spec``: Standard, no change."""
    vs = scene.view_settings
    if not spec:
        vs.view_transform = "Standard"
        return
    for name in (spec.get("view_transform", "AgX"), "Filmic", "Standard"):
        try:
            vs.view_transform = name
            break
        except TypeError:
            continue
    vs.exposure = float(spec.get("exposure_ev", 0.0))
    if spec.get("white_balance_k") and hasattr(vs, "use_white_balance"):
        vs.use_white_balance = True
        vs.white_balance_temperature = float(spec["white_balance_k"])
