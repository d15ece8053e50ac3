"""The 3D pane (VTK): volume rendering of the reference phase, with the shared focus point as a marker,
and the study's proposal boxes and RECIST axes as lines (``set_overlays``).

VTK draws in patient LPS mm, like everything else; the marker follows the ViewState's focus.
Headless: set VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow (OSMesa) or run under Xvfb;
``widget.grab()`` never holds VTK's pixels, read them with ``render_to_array``.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPiecewiseFunction, vtkPolyData
from vtkmodules.vtkFiltersSources import vtkSphereSource
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkIOImage import vtkImageExport  # noqa: F401
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkVolume,
    vtkVolumeProperty,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL back end)
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401

from liverview.core.view_state import ViewChange, ViewState
from liverview.core.volume import Volume
from liverview.review.scene_items import SceneOverlays

MAX_VOXELS_3D = 160**3  # downsample above this so rotation stays interactive on a laptop CPU
LINE_WIDTH = 2.0
CURRENT_LINE_WIDTH = 5.0


def lines_polydata(segments: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int]]]) -> vtkPolyData:
    """Line cells (one per segment) with a per-cell RGB colour."""
    poly = vtkPolyData()
    if not segments:
        return poly
    pts = np.array([[a, b] for a, b, _ in segments], float).reshape(-1, 3)
    points = vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(pts, deep=True))
    cells = vtkCellArray()
    for n in range(len(segments)):
        cells.InsertNextCell(2)
        cells.InsertCellPoint(2 * n)
        cells.InsertCellPoint(2 * n + 1)
    colors = numpy_support.numpy_to_vtk(np.array([c for _, _, c in segments], np.uint8), deep=True)
    colors.SetName("colors")
    poly.SetPoints(points)
    poly.SetLines(cells)
    poly.GetCellData().SetScalars(colors)
    return poly


def volume_to_vtk_image(volume: Volume, max_voxels: int = MAX_VOXELS_3D) -> vtkImageData:
    """The voxels as a vtkImageData in the volume's own frame (origin 0, identity direction; spacing kept,
    scaled when downsampled): place it in LPS mm with ``index_frame_matrix``.

    vtkFixedPointVolumeRayCastMapper ignores an image's direction matrix, so a scan stored e.g. feet
    first (direction diag(1, -1, -1), LiTS) would be drawn upside down and away from the marker."""
    arr = volume.array
    step = 1
    while arr[::step, ::step, ::step].size > max_voxels:
        step += 1
    arr = np.ascontiguousarray(arr[::step, ::step, ::step], dtype=np.float32)
    gaps = [k // step for k in volume.missing_slices if k % step == 0]
    if gaps:
        arr[gaps] = float(np.min(volume.array))  # missing slices render as a gap, not as filled-in tissue
    image = vtkImageData()
    k, j, i = arr.shape
    image.SetDimensions(i, j, k)
    image.SetSpacing(*(s * step for s in volume.spacing))
    scalars = numpy_support.numpy_to_vtk(arr.ravel(), deep=True)
    image.GetPointData().SetScalars(scalars)
    return image


def index_frame_matrix(volume: Volume) -> vtkMatrix4x4:
    """Takes the volume's own frame (index times spacing) to LPS mm: direction, then origin."""
    m = np.eye(4)
    m[:3, :3] = volume.direction
    m[:3, 3] = volume.origin
    matrix = vtkMatrix4x4()
    matrix.DeepCopy(m.ravel())
    return matrix


class VolumeView(QtWidgets.QWidget):
    """Renders the reference phase in 3D and marks the focus point."""

    def __init__(self, state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.interactor = QVTKRenderWindowInteractor(self)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.interactor)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.05, 0.05, 0.08)
        self.render_window = self.interactor.GetRenderWindow()
        self.render_window.AddRenderer(self.renderer)
        # Annotations on a second layer that shares the camera: drawn over the volume, so tissue in front
        # of a box or a RECIST axis never hides it (readers must see every proposal they review).
        self.overlay_renderer = vtkRenderer()
        self.overlay_renderer.SetLayer(1)
        self.overlay_renderer.InteractiveOff()
        self.overlay_renderer.SetActiveCamera(self.renderer.GetActiveCamera())
        self.render_window.SetNumberOfLayers(2)
        self.render_window.AddRenderer(self.overlay_renderer)
        # The default style ignored synthetic drags in tests; trackball is what users expect anyway.
        self.interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self._image: vtkImageData | None = None  # VTK objects kept referenced (inline temporaries crash)
        self._placement: vtkMatrix4x4 | None = None  # the image's frame -> LPS mm, on the volume actor
        self._mapper = vtkFixedPointVolumeRayCastMapper()
        self._volume_actor = vtkVolume()
        self._sphere = vtkSphereSource()
        self._sphere.SetRadius(4.0)
        self._sphere_mapper = vtkPolyDataMapper()
        self._sphere_mapper.SetInputConnection(self._sphere.GetOutputPort())
        self._marker = vtkActor()
        self._marker.SetMapper(self._sphere_mapper)
        self._marker.GetProperty().SetColor(1.0, 0.8, 0.0)
        # Proposal boxes and RECIST axes: one actor per line width, kept; only their polydata changes.
        self._overlays = SceneOverlays()
        self._line_data: dict[str, vtkPolyData] = {}
        self._line_mappers: dict[str, vtkPolyDataMapper] = {}
        self._line_actors: dict[str, vtkActor] = {}
        for name, width in (("lines", LINE_WIDTH), ("current", CURRENT_LINE_WIDTH)):
            mapper = vtkPolyDataMapper()
            mapper.SetScalarModeToUseCellData()
            mapper.SetColorModeToDirectScalars()
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().SetLineWidth(width)
            actor.GetProperty().LightingOff()  # the status colours as they are, from every side
            self._line_mappers[name], self._line_actors[name] = mapper, actor
            self._set_lines(name, [])
            self.overlay_renderer.AddActor(actor)
        self._unsubscribe = state.subscribe(self._on_change)
        self.interactor.Initialize()

    def set_volume(self, volume: Volume) -> None:
        self._image = volume_to_vtk_image(volume)
        self._mapper.SetInputData(self._image)
        self._placement = index_frame_matrix(volume)
        self._volume_actor.SetUserMatrix(self._placement)
        prop = vtkVolumeProperty()
        colors = vtkColorTransferFunction()
        for hu, rgb in [(-1000, (0, 0, 0)), (-100, (0.6, 0.4, 0.3)), (40, (0.95, 0.55, 0.45)),
                        (150, (1.0, 0.8, 0.7)), (700, (1.0, 1.0, 0.95))]:
            colors.AddRGBPoint(hu, *rgb)
        opacity = vtkPiecewiseFunction()
        for hu, a in [(-1000, 0.0), (-150, 0.0), (20, 0.01), (80, 0.05), (150, 0.5), (400, 0.85)]:
            opacity.AddPoint(hu, a)
        prop.SetColor(colors)
        prop.SetScalarOpacity(opacity)
        prop.SetInterpolationTypeToLinear()
        prop.ShadeOn()
        self._colors, self._opacity, self._property = colors, opacity, prop
        self._volume_actor.SetMapper(self._mapper)
        self._volume_actor.SetProperty(prop)
        self.renderer.RemoveAllViewProps()
        self.renderer.AddVolume(self._volume_actor)
        self.renderer.AddActor(self._marker)
        self._place_marker()
        self.reset_camera()
        self.render()

    def set_overlays(self, overlays: SceneOverlays) -> None:
        """Show these proposal boxes and segments (replacing the previous ones); the volume stays."""
        if overlays == self._overlays:
            return
        self._overlays = overlays
        groups: dict[str, list] = {"lines": [], "current": []}
        for box in overlays.boxes:
            groups["current" if box.current else "lines"] += [(a, b, box.color) for a, b in box.edges()]
        groups["lines"] += [(np.asarray(s.a), np.asarray(s.b), s.color) for s in overlays.segments]
        for name, segments in groups.items():
            self._set_lines(name, segments)
        if self._image is not None:
            self.render()

    @property
    def overlays(self) -> SceneOverlays:
        return self._overlays

    def _set_lines(self, name: str, segments: list) -> None:
        data = lines_polydata(segments)
        self._line_data[name] = data  # referenced: VTK does not own Python-made inputs for us
        self._line_mappers[name].SetInputData(data)
        self._line_actors[name].SetVisibility(bool(segments))

    def reset_camera(self) -> None:
        """Look at the patient from the front (anterior is -y in LPS), head up."""
        camera = self.renderer.GetActiveCamera()
        x0, x1, y0, y1, z0, z1 = self._volume_actor.GetBounds()  # in LPS mm: the user matrix applied
        center = ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2)
        camera.SetFocalPoint(*center)
        camera.SetPosition(center[0], center[1] - 3 * max(x1 - x0, z1 - z0, 1.0), center[2])
        camera.SetViewUp(0, 0, 1)
        self.renderer.ResetCamera(x0, x1, y0, y1, z0, z1)  # the volume's bounds, whatever boxes are drawn

    def _place_marker(self) -> None:
        if self.state.panes:
            focus = next(iter(self.state.panes.values())).focus
            self._sphere.SetCenter(*focus)

    def _on_change(self, change: ViewChange) -> None:
        if "focus" in change.fields and self._image is not None:
            self._place_marker()
            self.render()

    def render(self) -> None:
        if self.isVisible():
            self.render_window.Render()

    def render_to_array(self) -> np.ndarray:
        """Render now and return the pixels as (rows, cols, 3) uint8, top row first."""
        self.render_window.Render()
        grabber = vtkWindowToImageFilter()
        grabber.SetInput(self.render_window)
        grabber.ReadFrontBufferOff()
        grabber.Update()
        out = grabber.GetOutput()
        w, h, _ = out.GetDimensions()
        pixels = numpy_support.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, -1)
        return pixels[::-1, :, :3].copy()

    def shutdown(self) -> None:
        self._unsubscribe()
        self.render_window.Finalize()
        self.interactor.close()
