# loopml image: `loopml server` (control plane) and `loopml serve` (model servers) for the
# Helm chart deploy/helm/loopml (docs/kubernetes.md).
#   docker build -t loopml:0.1.0 .                          # S3 artifacts, the default
#   docker build --build-arg EXTRAS=s3,ray -t loopml-ray .   # also Ray (the RayCluster pods)
# Both stages use the same pinned base (a fixed patch release of Python on Debian 12); pin
# its digest too in your registry mirror with `FROM python:3.11.11-slim-bookworm@sha256:...`.
ARG BASE=python:3.11.11-slim-bookworm

FROM ${BASE} AS build
ARG EXTRAS=s3
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/loopml \
 && /opt/loopml/bin/pip install --upgrade "pip==24.3.1" \
 && /opt/loopml/bin/pip wheel --no-deps -w /wheels . \
 && /opt/loopml/bin/pip install "$(ls /wheels/loopml-*.whl)[${EXTRAS}]"

FROM ${BASE}
# A fixed, unprivileged user (the chart's podSecurity.runAsUser); no shell login, no home
# to write: the root filesystem is read-only in the chart, LOOPML_HOME is an emptyDir.
RUN groupadd --system --gid 10001 loopml \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin loopml
COPY --from=build /opt/loopml /opt/loopml
ENV PATH=/opt/loopml/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOOPML_HOME=/var/lib/loopml
USER 10001:10001
WORKDIR /var/lib/loopml
EXPOSE 5000 8080 8081
ENTRYPOINT ["loopml"]
CMD ["server", "--host", "0.0.0.0"]
