"""A real CAS 1/2/3 server for Spindle's sign-on tests: django-mama-cas (PyPI, BSD) on Django,
with the campus's people below (tests add their own through POST /test/people, see
cas_urls.py). Run: python cas_server.py PORT DATADIR

Every service on 127.0.0.1 may use it; single logout is on, so signing out here POSTs a
logoutRequest to each service the person signed in to. Attributes released: `affiliation`
(the person's groups, many values), `mail` and `displayName`.
"""

import os
import sys

import django
from django.conf import settings

# user, password, groups (released as `affiliation`), e-mail, display name
PEOPLE = [
    ("wang.lib", "wang-pass-1", ["staff"], "wang@a.example.edu.cn", "王 图书馆员"),
    ("li.admin", "li-pass-1", ["staff", "library-admins"], "li@a.example.edu.cn", "李 管理员"),
    ("zhang.student", "zhang-pass-1", ["student"], "zhang@a.example.edu.cn", "张 学生"),
    ("zhao.other", "zhao-pass-1", ["alum"], "zhao@a.example.edu.cn", "赵 校友"),
]


def attributes(user, service):
    return {
        "affiliation": [g.name for g in user.groups.all()],
        "mail": user.email,
        "displayName": user.first_name,
    }


def main():
    port, data = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        SECRET_KEY=os.urandom(32).hex(),
        ROOT_URLCONF="cas_urls",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "mama_cas",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(data, "cas.sqlite3"),
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        MAMA_CAS_ENABLE_SINGLE_SIGN_OUT=True,
        MAMA_CAS_SERVICES=[
            {
                "SERVICE": r"^http://127\.0\.0\.1(:\d+)?/",
                "CALLBACKS": ["cas_server.attributes"],
                "LOGOUT_ALLOW": True,
            }
        ],
    )
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for name, password, groups, mail, display in PEOPLE:
        if User.objects.filter(username=name).exists():
            continue
        user = User.objects.create_user(name, mail, password, first_name=display)
        for g in groups:
            user.groups.add(Group.objects.get_or_create(name=g)[0])
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, verbosity=0)


if __name__ == "__main__":
    main()
