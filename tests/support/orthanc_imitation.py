"""An Orthanc imitation whose ``/system`` names the DICOM port of its host (as Orthanc 1.12
does: ``DicomPort``): the web probe's host evidence about that port. Open REST API (no
authentication), no studies."""

from __future__ import annotations

from aiohttp import web


def orthanc_naming(dicom_port: int) -> web.Application:
    app = web.Application()

    async def system(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "Name": "imitation",
                "Version": "1.12.4",
                "ApiVersion": 24,
                "DicomAet": "ORTHANC",
                "DicomPort": dicom_port,
            }
        )

    async def statistics(request: web.Request) -> web.Response:
        return web.json_response({"CountStudies": 0, "CountPatients": 0})

    app.router.add_get("/system", system)
    app.router.add_get("/statistics", statistics)
    return app
