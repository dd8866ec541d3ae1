from django.contrib.auth.models import Group, User
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def add_person(request):
    """POST user, password, display and groups (comma-separated): a person of the test campus.
    Each test makes its own, since this CAS server's single logout reaches only the tickets a
    person consumed since their last login, which another test's login of the same person
    would move on."""
    p = request.POST
    if request.method != "POST" or not p.get("user") or not p.get("password"):
        return HttpResponseBadRequest("POST user and password")
    user, made = User.objects.get_or_create(username=p["user"])
    user.set_password(p["password"])
    user.first_name = p.get("display", "")
    user.save()
    for g in filter(None, p.get("groups", "").split(",")):
        user.groups.add(Group.objects.get_or_create(name=g)[0])
    return HttpResponse("made\n" if made else "updated\n")


urlpatterns = [
    path("cas/", include("mama_cas.urls")),
    path("test/people", add_person),
]
