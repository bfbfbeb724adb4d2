"""Projects and their label sets."""

from __future__ import annotations

from fastapi import APIRouter, Response

from modelreg.server.auth import Registry
from modelreg.server.wire import LabelSet, ProjectCreate, ProjectPath, ProjectUpdate, reply
from modelreg.types import Page, Project

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=Page[Project], summary="List projects")
def list_projects(reg: Registry) -> object:
    items = reg.list_projects()
    return reply(Page[Project].of(items))


@router.post("", response_model=Project, status_code=201, summary="Create a project")
def create_project(body: ProjectCreate, reg: Registry) -> object:
    return reply(reg.create_project(body.name, description=body.description, labels=body.labels,
                                    exist_ok=body.exist_ok), 201)


@router.get("/{project}", response_model=Project, summary="Get a project")
def get_project(reg: Registry, project: str = ProjectPath) -> object:
    return reply(reg.get_project(project))


@router.patch("/{project}", response_model=Project, summary="Change a project's description or label set")
def update_project(body: ProjectUpdate, reg: Registry, project: str = ProjectPath) -> object:
    return reply(reg.update_project(project, description=body.description, labels=body.labels))


@router.delete("/{project}", status_code=204, summary="Delete an empty project")
def delete_project(reg: Registry, project: str = ProjectPath) -> Response:
    reg.delete_project(project)
    return Response(status_code=204)


@router.get("/{project}/labels", response_model=list[str], summary="The project's label set (ordered)")
def get_labels(reg: Registry, project: str = ProjectPath) -> list[str]:
    return reg.get_project(project).labels


@router.put("/{project}/labels", response_model=Project,
            summary="Replace the label set (the old one stays in the events log)")
def put_labels(body: LabelSet, reg: Registry, project: str = ProjectPath) -> object:
    return reply(reg.update_project(project, labels=body.labels))
