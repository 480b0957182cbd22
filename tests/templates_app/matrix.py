from templates_app.models import Template
from templates_app.services import template_create
from tests.matrix import Endpoint


def a_template(users) -> dict:
    n = Template.objects.count()
    template = template_create(
        actor=None,
        name=f"Matrix {n}",
        docker_image="hearth/testgame:latest",
        start_command="/usr/local/bin/testgame",
        stop_command="stop",
    )
    return {"template": template.pk}


def template_body(ctx) -> dict:
    return {
        "name": f"Made {ctx['n']}",
        "dockerImage": "hearth/testgame:latest",
        "startCommand": "/usr/local/bin/testgame",
        "stopCommand": "stop",
    }


def egg_body(ctx) -> dict:
    return {
        "egg": {
            "meta": {"version": "PTDL_v2"},
            "name": f"Imported {ctx['n']}",
            "docker_images": {"Test": "hearth/testgame:latest"},
            "startup": "/usr/local/bin/testgame",
            "config": {"files": "{}", "startup": '{"done": "Done ("}', "logs": "{}", "stop": "stop"},
            "variables": [],
        }
    }


ENDPOINTS = [
    Endpoint("GET", "/api/templates", None),
    Endpoint("GET", "/api/templates/{template}", None, setup=a_template),
    Endpoint("POST", "/api/templates", "admin.write", ok=201, body=template_body),
    Endpoint("PUT", "/api/templates/{template}", "admin.write", setup=a_template, body=template_body),
    Endpoint(
        "PATCH", "/api/templates/{template}", "admin.write", setup=a_template, body={"description": "edited"}
    ),
    Endpoint("DELETE", "/api/templates/{template}", "admin.write", setup=a_template),
    Endpoint("POST", "/api/templates/import", "admin.write", ok=201, body=egg_body),
    Endpoint("GET", "/api/templates/{template}/export", "admin.read", setup=a_template),
]
