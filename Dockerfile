# Signpost service image: one image, every service. The command picks the role:
#   docker run IMAGE serve intake --port 8000     (or triage | routing | notify | console)
#   docker run IMAGE keys create --name ... --kind ... --organisation ... --scopes ...
# Configured by environment variables (see shared/settings.py and DESIGN.md, "Run modes").

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
COPY shared ./shared
RUN /opt/venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODE=distributed
RUN groupadd --system --gid 10001 signpost \
    && useradd --system --uid 10001 --gid signpost --create-home --home-dir /home/signpost signpost
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/signpost
USER 10001:10001
EXPOSE 8000

# Liveness only (the process answers). Readiness (databases + broker) is /readyz,
# which docker-compose.yml and the Kubernetes probes use. No curl in a slim image:
# the health check uses the interpreter that is already there.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["signpost"]
CMD ["--help"]
